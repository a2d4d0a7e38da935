"""What a background job looks like to its owner (the jobs API and the plan's push-job route)."""

from __future__ import annotations

from plan_service.api.serializers import ModelSerializer
from plan_service.jobs.models import BackgroundJob


class JobSerializer(ModelSerializer):
    class Meta:
        model = BackgroundJob
        fields = [
            "id",
            "kind",
            "status",
            "plan_id",
            "progress",
            "total",
            "attempts",
            "result",
            "error_code",
            "error",
            "created_at",
            "started_at",
            "finished_at",
        ]

"""Admin registrations are deliberately absent: plan data is reached only through the API,
which applies the policy and the access log. Administrators manage the registry via the API."""

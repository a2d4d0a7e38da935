"""The shared family plan service: one plan per family, kept jointly by the family and its team."""

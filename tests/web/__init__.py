"""Tests of the family web pages."""

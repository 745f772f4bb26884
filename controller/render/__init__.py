"""Views of plans and apply reports: human (terraform-like) and JSON render the same objects."""

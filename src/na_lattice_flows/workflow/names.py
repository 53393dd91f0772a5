"""Names of the jobs that the store queries find by name (the flows set them; results and the report read them)."""

SUMMARY_JOB_NAME = "screening summary"

"""Partner extranet: organisations, applications, reports, dashboards."""

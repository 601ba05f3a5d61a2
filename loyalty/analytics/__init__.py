"""Where each member stands: lifecycle stages, RFM segments, predicted value, churn and cohorts."""

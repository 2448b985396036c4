# Reference fits of the LCM-SR with slope variances fixed at 0 by lavaan: the model
# causalrel's RICLPM(..., time="client") falls back to when the data do not support a slope
# variance (slope_variances="auto"), fitted on data simulated WITHOUT client slopes (the
# RI-CLPM data of lavaan_clpm.R), where the free LCM-SR has negative slope variances.
#
# Run from the repository root after `python tests/reference/lavaan/make_lavaan_data.py`:
#     Rscript tests/reference/lavaan/lavaan_lcmsr_slopes.R
# Writes tests/reference/lavaan/lavaan_lcmsr_<case>_params.csv and _fit.json (as
# lavaan_lcmsr.R, whose lcmsr() writes the model: "Sx ~~ 0*Sx", "RIx ~~ 0*Sx", ...).
# Cases: the free fits (negative slope variances, as lavaan reports them) and the fits
# with both slopes (complete data, constrained lags) or only Sy (missing data) fixed at 0.

lcmsr_models_only <- TRUE
source(file.path("tests", "reference", "lavaan", "lavaan_lcmsr.R"))

complete <- read_wide("lavaan_data_complete.csv", 1:5)
missing <- read_wide("lavaan_data_missing.csv", 1:6)

run_lcmsr("noslopes_complete_constrained_free", lcmsr(1:5, constrained = TRUE), complete)
run_lcmsr("noslopes_complete_constrained_zero",
          lcmsr(1:5, constrained = TRUE, zero = c("Sx", "Sy")), complete)
run_lcmsr("noslopes_missing_free", lcmsr(1:6), missing)
run_lcmsr("noslopes_missing_zero_sy", lcmsr(1:6, zero = "Sy"), missing)

# Reference fits of the panel SEMs with a directed same-session path, by lavaan (0.6.14 when
# made): causalrel's same_session="symptoms->alliance" (or "alliance->symptoms").
#
# Run from the repository root after `python tests/reference/lavaan/make_lavaan_data.py`:
#     Rscript tests/reference/lavaan/lavaan_same_session.R
# Writes tests/reference/lavaan/lavaan_same_<case>_params.csv and _fit.json (as
# lavaan_clpm.R's save_fit).
#
# The models are lavaan_clpm.R's (and lavaan_lcmsr.R's LCM-SR) with, from the second wave
# on, the same-session residual covariance "wx<s> ~~ wy<s>" replaced by the regression
# "wx<s> ~ wy<s>" (symptoms rated before the session acting on the alliance rated after
# it; "wy<s> ~ wx<s>" for the other order), labelled when the lags are constrained (one
# same-session effect for all waves). The first wave keeps its covariance.

lcmsr_models_only <- TRUE
source(file.path("tests", "reference", "lavaan", "lavaan_lcmsr.R"))

directed <- function(syntax, waves, pre, cause = "y", out = "x", label = "") {
  lines <- strsplit(syntax, "\n")[[1]]
  for (s in waves[-1]) {
    cov_line <- sprintf("%sx%d ~~ %sy%d", pre, s, pre, s)
    if (!(cov_line %in% lines)) stop("no line ", cov_line)
    lines[lines == cov_line] <- sprintf("%s%s%d ~ %s%s%s%d", pre, out, s, label, pre, cause, s)
  }
  paste(lines, collapse = "\n")
}

complete <- read_wide("lavaan_data_complete.csv", 1:5)
missing <- read_wide("lavaan_data_missing.csv", 1:6)
lcmsr_data <- read_wide("lavaan_data_lcmsr_missing.csv", 1:7, c("arm", "severity"))

run("same_riclpm_complete_yx", directed(riclpm(1:5), 1:5, "w"), complete)
run("same_riclpm_missing_constrained_yx",
    directed(riclpm(1:6, constrained = TRUE), 1:6, "w", label = "ss_yx*"), missing)
run("same_clpm_complete_xy", directed(clpm(1:5), 1:5, "", cause = "x", out = "y"), complete)
run("same_dpml_missing_yx", directed(dpml(1:6), 1:6, "", label = "ss_yx*"), missing)
run("same_lcmsr_missing_constrained_yx",
    directed(lcmsr(1:7, constrained = TRUE), 1:7, "w", label = "ss_yx*"), lcmsr_data)

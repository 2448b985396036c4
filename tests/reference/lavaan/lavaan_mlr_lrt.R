# Nested comparisons under MLR, as causalrel's analyze makes them, by lavaan's lavTestLRT
# (Satorra-Bentler 2001 scaled difference; lavaan 0.6.14 when these fixtures were made).
#
# Run from the repository root after `python tests/reference/lavaan/make_lavaan_data.py`:
#     Rscript tests/reference/lavaan/lavaan_mlr_lrt.R
# Writes tests/reference/lavaan/lavaan_mlr_lrt_<case>.json: lavTestLRT's heading (the method),
# the scaled difference, its df and p-value, each model's (unscaled) chisq, df and MLR
# scaling factor, and the versions.
#
# The pairs are those analyze's verdict tests (causalrel.verdict.analysis_verdict) with the
# options analyze gives them: free lags (the families' default), estimator = "MLR", and with
# a therapist column cluster = "therapist":
#   clpm_riclpm_cluster    CLPM vs RI-CLPM (random intercepts), 25 therapists, skewed scores
#   riclpm_lcmsr_cluster   RI-CLPM vs LCM-SR (slope variances), same data
#   clpm_riclpm_missing    CLPM vs RI-CLPM, FIML with missing ratings, no clusters
#   riclpm_lcmsr_missing   RI-CLPM vs LCM-SR on the LCM-SR data (client slopes), FIML,
#                          lags equal over waves
#   riclpm_constrained_missing  RI-CLPM with lags equal over waves vs free lags, FIML
# Models: lavaan_clpm.R's clpm()/riclpm() and lavaan_lcmsr.R's lcmsr() (sourced for the
# model functions only), written there from the papers, independently of the Python code.

lcmsr_models_only <- TRUE
source(file.path("tests", "reference", "lavaan", "lavaan_lcmsr.R"))

fit_mlr <- function(syntax, data, cluster = NULL) {
  args <- list(model = syntax, data = data, missing = "ML", meanstructure = TRUE,
               int.ov.free = TRUE, fixed.x = FALSE, estimator = "MLR")
  if (!is.null(cluster)) args$cluster <- cluster
  do.call(lavaan, args)
}

run_lrt <- function(case, restricted, full, data, cluster = NULL) {
  m0 <- fit_mlr(restricted, data, cluster)
  m1 <- fit_mlr(full, data, cluster)
  lrt <- lavTestLRT(m1, m0)
  fm <- lapply(list(m0, m1), function(m) {
    as.list(fitMeasures(m, c("chisq", "df", "chisq.scaling.factor", "logl", "npar")))
  })
  out <- list(case = case, method = attr(lrt, "heading"),
              chisq_diff = lrt[["Chisq diff"]][2], df_diff = lrt[["Df diff"]][2],
              pvalue = lrt[["Pr(>Chisq)"]][2],
              restricted = lapply(fm[[1]], as.numeric), full = lapply(fm[[2]], as.numeric),
              converged = c(lavInspect(m0, "converged"), lavInspect(m1, "converged")),
              cluster = if (is.null(cluster)) "" else cluster,
              lavaan = as.character(packageVersion("lavaan")), R = R.version.string)
  writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
             file.path(fix_dir, paste0("lavaan_mlr_lrt_", case, ".json")))
  cat(case, ": scaled diff", out$chisq_diff, "df", out$df_diff, "p", out$pvalue, "\n")
}

clustered <- read_wide("lavaan_data_cluster.csv", 1:5, "therapist")
missing <- read_wide("lavaan_data_missing.csv", 1:6)
slopes <- read_wide("lavaan_data_lcmsr_missing.csv", 1:7)

run_lrt("clpm_riclpm_cluster", clpm(1:5), riclpm(1:5), clustered, cluster = "therapist")
run_lrt("riclpm_lcmsr_cluster", riclpm(1:5), lcmsr(1:5), clustered, cluster = "therapist")
run_lrt("clpm_riclpm_missing", clpm(1:6), riclpm(1:6), missing)
# free lags do not converge on these data in lavaan: lags equal over waves, as the ML
# fixture lavaan_lcmsr_lrt_riclpm.json
run_lrt("riclpm_lcmsr_missing", riclpm(1:7, constrained = TRUE),
        lcmsr(1:7, constrained = TRUE), slopes)
run_lrt("riclpm_constrained_missing", riclpm(1:6, constrained = TRUE), riclpm(1:6), missing)

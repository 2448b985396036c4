# Reference fits of the latent curve model with structured residuals (LCM-SR; Curran, Howard,
# Bainter, Lane & McGinley 2014, JCCP 82(5), 879-894) by lavaan (0.6.14 when made).
#
# Run from the repository root after `python tests/reference/lavaan/make_lavaan_data.py`:
#     Rscript tests/reference/lavaan/lavaan_lcmsr.R
# Writes tests/reference/lavaan/lavaan_lcmsr_<case>_params.csv (parameterEstimates +
# std.all) and lavaan_lcmsr_<case>_fit.json (fitMeasures, options, versions).
#
# The model is written here from the paper, independently of the Python code: latent
# intercepts RIx, RIy (loadings 1) and slopes Sx, Sy (loadings 0, 1, ..., T-1) with a free
# 4 x 4 covariance matrix; within-client residuals wx<s>, wy<s> (loading 1, observed residual
# variances 0) with lagged effects between consecutive sessions, the first-wave covariance
# and same-session residual covariances. Two mean structures: wave-specific means (observed
# intercepts free, latent means 0: the RI-CLPM is nested) and the published linear mean
# trajectory (observed intercepts 0, the four latent means free). Fitted with
# lavaan(..., missing = "ML", meanstructure = TRUE, int.ov.free = TRUE, fixed.x = FALSE).

models_only <- TRUE
source(file.path("tests", "reference", "lavaan", "lavaan_clpm.R"))

# zero: slopes ("Sx", "Sy") whose variance and covariances are fixed at 0 (the model a
# lavaan user fits when a slope variance estimate is negative; lavaan_lcmsr_slopes.R).
lcmsr <- function(waves, constrained = FALSE, linear_means = FALSE, cov = character(0),
                  zero = character(0)) {
  m <- c(paste("RIx =~", paste0("1*x", waves, collapse = " + ")),
         paste("RIy =~", paste0("1*y", waves, collapse = " + ")),
         paste("Sx =~", paste0(waves - waves[1], "*x", waves, collapse = " + ")),
         paste("Sy =~", paste0(waves - waves[1], "*y", waves, collapse = " + ")),
         sprintf("wx%d =~ 1*x%d", waves, waves),
         sprintf("wy%d =~ 1*y%d", waves, waves))
  for (s in waves[-1]) m <- c(m, lags("w", s, constrained))
  growth <- c("RIx", "RIy", "Sx", "Sy")
  pairs <- combn(growth, 2)
  fix <- function(a, b) ifelse(a %in% zero | b %in% zero, "0*", "")
  m <- c(m, sprintf("wx%d ~~ wy%d", waves, waves),
         sprintf("%s ~~ %s%s", growth, fix(growth, growth), growth),
         sprintf("%s ~~ %s%s", pairs[1, ], fix(pairs[1, ], pairs[2, ]), pairs[2, ]),
         sprintf("wx%d ~~ wx%d", waves, waves), sprintf("wy%d ~~ wy%d", waves, waves))
  if (length(cov) && length(zero)) stop("covariates with zero slopes: not written here")
  if (length(cov)) m <- c(m, paste("RIx + RIy + Sx + Sy ~", paste(cov, collapse = " + ")),
                          covariate_block(cov))
  if (linear_means) m <- c(m, sprintf("x%d ~ 0*1", waves), sprintf("y%d ~ 0*1", waves),
                           sprintf("%s ~ 1", growth))
  paste(m, collapse = "\n")
}

# The DPML (lavaan_clpm.R's dpml()) with client-specific linear trends in both equations:
# trend factors TRx, TRy loading 1, 2, ... from the second wave on, free to correlate with
# each other, the fixed effects and the first wave's observations.
dpml_trends <- function(waves) {
  first <- waves[1]; rest <- waves[-1]
  paste(c(dpml(waves),
          paste("TRx =~", paste0(rest - first, "*x", rest, collapse = " + ")),
          paste("TRy =~", paste0(rest - first, "*y", rest, collapse = " + ")),
          "TRx ~~ TRx", "TRy ~~ TRy", "TRx ~~ TRy", "TRx ~~ FEx + FEy", "TRy ~~ FEx + FEy",
          sprintf("TRx ~~ x%d + y%d", first, first), sprintf("TRy ~~ x%d + y%d", first, first)),
        collapse = "\n")
}

mlr_measures <- c(measures, "chisq.scaled", "df.scaled", "pvalue.scaled",
                  "chisq.scaling.factor", "cfi.robust", "tli.robust", "rmsea.robust")

run_lcmsr <- function(case, syntax, data, estimator = "ML", group = NULL,
                      group.equal = "") {
  args <- list(model = syntax, data = data, missing = "ML", meanstructure = TRUE,
               int.ov.free = TRUE, fixed.x = FALSE, estimator = estimator,
               group.equal = group.equal)
  if (!is.null(group)) {
    args$group <- group
    args$group.label <- c("control", "treatment")
  }
  fit <- do.call(lavaan, args)
  pe <- parameterEstimates(fit, standardized = TRUE, remove.nonfree = FALSE)
  pe <- pe[pe$op %in% c("=~", "~", "~~", "~1"), ]
  cols <- c("lhs", "op", "rhs", "block", "group", "label", "est", "se", "z", "pvalue",
            "ci.lower", "ci.upper", "std.all")
  write.csv(pe[, intersect(cols, names(pe))],
            file.path(fix_dir, paste0("lavaan_lcmsr_", case, "_params.csv")), row.names = FALSE)
  fm <- as.list(fitMeasures(fit, if (estimator == "MLR") mlr_measures else measures))
  opt <- lavInspect(fit, "options")
  out <- list(case = case, fit = lapply(fm, as.numeric), converged = lavInspect(fit, "converged"),
              estimator = estimator, information = opt$information[1],
              group = if (is.null(group)) "" else group, group.equal = group.equal,
              lavaan = as.character(packageVersion("lavaan")), R = R.version.string,
              syntax = syntax)
  writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
             file.path(fix_dir, paste0("lavaan_lcmsr_", case, "_fit.json")))
  cat(case, ": chisq", fm$chisq, "df", fm$df, "logl", fm$logl, "\n")
  invisible(fit)
}

# lavaan_mlr_lrt.R and lavaan_lcmsr_slopes.R source this file for the model functions only
# (lcmsr_models_only = TRUE).
if (!exists("lcmsr_models_only")) {
  complete <- read_wide("lavaan_data_lcmsr_complete.csv", 1:6, c("arm", "severity"))
  missing <- read_wide("lavaan_data_lcmsr_missing.csv", 1:7, c("arm", "severity"))

  run_lcmsr("complete", lcmsr(1:6), complete)
  run_lcmsr("complete_constrained_linear", lcmsr(1:6, constrained = TRUE, linear_means = TRUE),
            complete)
  m1 <- run_lcmsr("missing_constrained", lcmsr(1:7, constrained = TRUE), missing)
  run_lcmsr("missing", lcmsr(1:7), missing)
  run_lcmsr("missing_linear", lcmsr(1:7, linear_means = TRUE), missing)
  run_lcmsr("missing_covariates", lcmsr(1:7, constrained = TRUE, cov = "severity"), missing)
  run_lcmsr("missing_mg_regressions", lcmsr(1:7), missing, group = "arm",
            group.equal = "regressions")
  run_lcmsr("dpml_trends_complete", dpml_trends(1:6), complete)
  run_lcmsr("dpml_trends_missing", dpml_trends(1:7), missing)
  run_lcmsr("missing_constrained_mlr", lcmsr(1:7, constrained = TRUE), missing, estimator = "MLR")

  # The likelihood-ratio test of the slope (co)variances: RI-CLPM nested in the LCM-SR.
  m0 <- lavaan(riclpm(1:7, constrained = TRUE), data = missing, missing = "ML",
               meanstructure = TRUE, int.ov.free = TRUE, fixed.x = FALSE)
  lrt <- lavTestLRT(m1, m0)
  out <- list(chisq_diff = lrt[["Chisq diff"]][2], df_diff = lrt[["Df diff"]][2],
              pvalue = lrt[["Pr(>Chisq)"]][2], lavaan = as.character(packageVersion("lavaan")))
  writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
             file.path(fix_dir, "lavaan_lcmsr_lrt_riclpm.json"))
  print(lrt)
}

# Robust (MLR) and cluster-robust reference fits for causalrel.sem, by lavaan (0.6.14 when
# these fixtures were made).
#
# Run from the repository root after `python tests/reference/lavaan/make_lavaan_data.py`:
#     Rscript tests/reference/lavaan/lavaan_mlr.R
# Writes tests/reference/lavaan/lavaan_mlr_<case>_params.csv (parameterEstimates with
# robust standard errors, + std.all) and lavaan_mlr_<case>_fit.json (fitMeasures with the
# scaled test and the robust fit indices, timing, versions).
#
# The models are those of lavaan_clpm.R (sourced for its model functions only), fitted with
# lavaan(..., estimator = "MLR", missing = "ML"): Huber-White standard errors (observed
# information bread, casewise-score meat), the Yuan-Bentler (Mplus variant) scaled chi-square
# and the FIML-corrected robust CFI/TLI/RMSEA (Zhang & Savalei). With cluster = "therapist"
# the casewise scores are summed within therapists (cluster-robust standard errors and test).

models_only <- TRUE
source(file.path("tests", "reference", "lavaan", "lavaan_clpm.R"))

mlr_measures <- c(measures, "chisq.scaled", "df.scaled", "pvalue.scaled",
                  "chisq.scaling.factor", "cfi.robust", "tli.robust", "rmsea.robust",
                  "rmsea.scaled")

run_mlr <- function(case, syntax, data, group = NULL, group.equal = "", cluster = NULL) {
  t0 <- proc.time()[["elapsed"]]
  args <- list(model = syntax, data = data, missing = "ML", meanstructure = TRUE,
               int.ov.free = TRUE, fixed.x = FALSE, estimator = "MLR",
               group.equal = group.equal)
  if (!is.null(group)) {
    args$group <- group
    args$group.label <- c("control", "treatment")
  }
  if (!is.null(cluster)) args$cluster <- cluster
  fit <- do.call(lavaan, args)
  fm <- as.list(fitMeasures(fit, mlr_measures))
  seconds_all <- proc.time()[["elapsed"]] - t0
  pe <- parameterEstimates(fit, standardized = TRUE, remove.nonfree = FALSE)
  pe <- pe[pe$op %in% c("=~", "~", "~~", "~1"), ]
  cols <- c("lhs", "op", "rhs", "block", "group", "label", "est", "se", "z", "pvalue",
            "ci.lower", "ci.upper", "std.all")
  write.csv(pe[, intersect(cols, names(pe))],
            file.path(fix_dir, paste0("lavaan_mlr_", case, "_params.csv")), row.names = FALSE)
  opt <- lavInspect(fit, "options")
  out <- list(case = case, fit = lapply(fm, as.numeric),
              converged = lavInspect(fit, "converged"),
              seconds = as.numeric(fit@timing$total),
              seconds_with_fitmeasures = seconds_all,
              estimator = "MLR", se = opt$se, test = opt$test,
              information = opt$information[1],
              observed.information = opt$observed.information[1],
              group = if (is.null(group)) "" else group, group.equal = group.equal,
              cluster = if (is.null(cluster)) "" else cluster,
              lavaan = as.character(packageVersion("lavaan")), R = R.version.string,
              syntax = syntax)
  writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
             file.path(fix_dir, paste0("lavaan_mlr_", case, "_fit.json")))
  cat(case, ": chisq", fm$chisq, "scaled", fm$chisq.scaled, "c", fm$chisq.scaling.factor,
      "cfi.robust", fm$cfi.robust, "rmsea.robust", fm$rmsea.robust, "\n")
}

complete <- read_wide("lavaan_data_complete.csv", 1:5)
missing <- read_wide("lavaan_data_missing.csv", 1:6)
multi <- read_wide("lavaan_data_multigroup.csv", 1:5, "arm")
clustered <- read_wide("lavaan_data_cluster.csv", 1:5, "therapist")

run_mlr("riclpm_complete", riclpm(1:5), complete)
run_mlr("riclpm_missing", riclpm(1:6), missing)
run_mlr("riclpm_missing_constrained", riclpm(1:6, constrained = TRUE), missing)
run_mlr("clpm_missing_constrained", clpm(1:6, constrained = TRUE), missing)
run_mlr("clpm_complete", clpm(1:5), complete)
run_mlr("dpml_missing", dpml(1:6), missing)
run_mlr("mg_riclpm_free", riclpm(1:5), multi, group = "arm")
run_mlr("mg_riclpm_regressions", riclpm(1:5), multi, group = "arm", group.equal = "regressions")
run_mlr("riclpm_cluster", riclpm(1:5), clustered)
run_mlr("riclpm_cluster_therapist", riclpm(1:5), clustered, cluster = "therapist")
run_mlr("riclpm_cluster_therapist_constrained", riclpm(1:5, constrained = TRUE), clustered,
        cluster = "therapist")
run_mlr("dpml_cluster_therapist", dpml(1:5), clustered, cluster = "therapist")
# two groups, therapists nested in them (even-numbered therapists "control")
clustered$arm <- ifelse(clustered$therapist %% 2 == 0, "control", "treatment")
run_mlr("mg_riclpm_cluster_therapist", riclpm(1:5), clustered, group = "arm",
        group.equal = "regressions", cluster = "therapist")

# Nested comparison under MLR: lavTestLRT's Satorra-Bentler (2001) scaled difference.
lrt_fit <- function(syntax) {
  lavaan(syntax, data = missing, missing = "ML", meanstructure = TRUE, int.ov.free = TRUE,
         fixed.x = FALSE, estimator = "MLR")
}
m0 <- lrt_fit(clpm(1:6, constrained = TRUE))
m1 <- lrt_fit(riclpm(1:6, constrained = TRUE))
lrt <- lavTestLRT(m1, m0)
out <- list(method = attr(lrt, "heading"), chisq_diff = lrt[["Chisq diff"]][2],
            df_diff = lrt[["Df diff"]][2], pvalue = lrt[["Pr(>Chisq)"]][2],
            chisq = lrt[["Chisq"]], lavaan = as.character(packageVersion("lavaan")))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           file.path(fix_dir, "lavaan_mlr_lrt_clpm_riclpm.json"))
print(lrt)

# Defined parameters (:=): the cross-lag difference and the long-run effects (entries of
# (I - Phi)^-1) with delta-method SEs (parameterEstimates) and their standardized values with
# SEs (standardizedSolution, std.all), under MLR and ML.
defs <- c("cl_diff := cl_xy - cl_yx",
          "lr_xy := cl_xy / ((1 - ar_x) * (1 - ar_y) - cl_xy * cl_yx)",
          "lr_yx := cl_yx / ((1 - ar_x) * (1 - ar_y) - cl_xy * cl_yx)")
run_defined <- function(case, syntax, estimator) {
  fit <- lavaan(paste(c(syntax, defs), collapse = "\n"), data = missing, missing = "ML",
                meanstructure = TRUE, int.ov.free = TRUE, fixed.x = FALSE,
                estimator = estimator)
  pe <- parameterEstimates(fit)
  ss <- standardizedSolution(fit, type = "std.all")
  pe <- pe[pe$op == ":=", c("lhs", "op", "rhs", "est", "se")]
  ss <- ss[ss$op == ":=", c("lhs", "est.std", "se")]
  names(ss) <- c("lhs", "est.std", "se.std")
  write.csv(merge(pe, ss, by = "lhs", sort = FALSE),
            file.path(fix_dir, paste0("lavaan_defined_", case, ".csv")), row.names = FALSE)
  cat(case, "\n")
}
run_defined("riclpm_mlr", riclpm(1:6, constrained = TRUE), "MLR")
run_defined("riclpm_ml", riclpm(1:6, constrained = TRUE), "ML")
run_defined("dpml_mlr", dpml(1:6), "MLR")

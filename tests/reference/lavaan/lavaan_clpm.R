# Reference fits for causalrel.sem, by lavaan (0.6.14 when these fixtures were made).
#
# Run from the repository root after `python tests/reference/lavaan/make_lavaan_data.py`:
#     Rscript tests/reference/lavaan/lavaan_clpm.R
# Writes tests/reference/lavaan/lavaan_<case>_params.csv (parameterEstimates + std.all)
# and lavaan_<case>_fit.json (fitMeasures, timing, versions).
#
# Models are written here independently of the Python code: the RI-CLPM as in the tutorial
# of Mulder & Hamaker (2021, Structural Equation Modeling 28(4), 638-648), fitted with
# lavaan(..., missing = "ML", meanstructure = TRUE, int.ov.free = TRUE); the CLPM with
# observed-variable lags; the ML dynamic panel model of Allison, Williams & Moral-Benito
# (2017, Socius 3). The tutorial data set of the lavaan tutorial (PoliticalDemocracy, Bollen
# 1989) is fitted exactly as in https://lavaan.ugent.be/tutorial/sem.html.

suppressPackageStartupMessages(library(lavaan))
library(jsonlite)

fix_dir <- file.path("tests", "reference", "lavaan")

read_wide <- function(file, waves, covariates = character(0)) {
  long <- read.csv(file.path(fix_dir, file))
  ids <- sort(unique(long$client))
  wide <- data.frame(client = ids)
  for (s in waves) {
    at <- long[long$session == s, ]
    wide[[paste0("x", s)]] <- at$alliance[match(ids, at$client)]
    wide[[paste0("y", s)]] <- at$symptoms[match(ids, at$client)]
  }
  xy <- wide[, -1]
  for (z in covariates) wide[[z]] <- long[[z]][match(ids, long$client)]
  # clients without any rating in these waves carry no information on the process
  wide[rowSums(!is.na(xy)) > 0, ]
}

covariate_block <- function(cov) {
  m <- sprintf("%s ~~ %s", cov, cov)
  if (length(cov) > 1) {
    pairs <- combn(cov, 2)
    m <- c(m, sprintf("%s ~~ %s", pairs[1, ], pairs[2, ]))
  }
  m
}

lags <- function(pre, s, lab) {
  if (lab) {
    c(sprintf("%sx%d ~ ar_x*%sx%d + cl_yx*%sy%d", pre, s, pre, s - 1, pre, s - 1),
      sprintf("%sy%d ~ cl_xy*%sx%d + ar_y*%sy%d", pre, s, pre, s - 1, pre, s - 1))
  } else {
    c(sprintf("%sx%d + %sy%d ~ %sx%d + %sy%d", pre, s, pre, s, pre, s - 1, pre, s - 1))
  }
}

riclpm <- function(waves, constrained = FALSE, invariant_means = FALSE, cov = character(0)) {
  m <- c(paste("RIx =~", paste0("1*x", waves, collapse = " + ")),
         paste("RIy =~", paste0("1*y", waves, collapse = " + ")),
         sprintf("wx%d =~ 1*x%d", waves, waves),
         sprintf("wy%d =~ 1*y%d", waves, waves))
  for (s in waves[-1]) m <- c(m, lags("w", s, constrained))
  m <- c(m, sprintf("wx%d ~~ wy%d", waves, waves),
         "RIx ~~ RIx", "RIy ~~ RIy", "RIx ~~ RIy",
         sprintf("wx%d ~~ wx%d", waves, waves), sprintf("wy%d ~~ wy%d", waves, waves))
  if (length(cov)) m <- c(m, paste("RIx + RIy ~", paste(cov, collapse = " + ")),
                          covariate_block(cov))
  if (invariant_means) m <- c(m, sprintf("x%d ~ m_x*1", waves), sprintf("y%d ~ m_y*1", waves))
  paste(m, collapse = "\n")
}

clpm <- function(waves, constrained = FALSE) {
  m <- character(0)
  for (s in waves[-1]) m <- c(m, lags("", s, constrained))
  m <- c(m, sprintf("x%d ~~ y%d", waves, waves),
         sprintf("x%d ~~ x%d", waves, waves), sprintf("y%d ~~ y%d", waves, waves))
  paste(m, collapse = "\n")
}

dpml <- function(waves, cov = character(0)) {
  first <- waves[1]; rest <- waves[-1]
  m <- c(paste("FEx =~", paste0("1*x", rest, collapse = " + ")),
         paste("FEy =~", paste0("1*y", rest, collapse = " + ")))
  for (s in rest) m <- c(m, lags("", s, TRUE))
  m <- c(m, "FEx ~~ FEx", "FEy ~~ FEy", "FEx ~~ FEy",
         sprintf("FEx ~~ x%d + y%d", first, first), sprintf("FEy ~~ x%d + y%d", first, first),
         sprintf("x%d ~~ x%d", first, first), sprintf("y%d ~~ y%d", first, first),
         sprintf("x%d ~~ y%d", first, first),
         sprintf("x%d ~~ x%d", rest, rest), sprintf("y%d ~~ y%d", rest, rest),
         sprintf("x%d ~~ y%d", rest, rest))
  for (z in cov) {
    m <- c(m, sprintf("x%d ~ gx_%s*%s", rest, z, z), sprintf("y%d ~ gy_%s*%s", rest, z, z),
           sprintf("%s ~~ x%d + y%d", z, first, first))
  }
  if (length(cov)) m <- c(m, covariate_block(cov))
  paste(m, collapse = "\n")
}

measures <- c("npar", "chisq", "df", "pvalue", "baseline.chisq", "baseline.df", "cfi", "tli",
              "rmsea", "rmsea.ci.lower", "rmsea.ci.upper", "srmr", "logl", "unrestricted.logl",
              "aic", "bic", "ntotal")

save_fit <- function(case, fit, syntax) {
  pe <- parameterEstimates(fit, standardized = TRUE, remove.nonfree = FALSE)
  pe <- pe[pe$op %in% c("=~", "~", "~~", "~1"), ]
  write.csv(pe[, intersect(c("lhs", "op", "rhs", "label", "est", "se", "z", "pvalue",
                             "ci.lower", "ci.upper", "std.all"), names(pe))],
            file.path(fix_dir, paste0("lavaan_", case, "_params.csv")), row.names = FALSE)
  fm <- as.list(fitMeasures(fit, measures))
  out <- list(case = case, fit = lapply(fm, as.numeric), converged = lavInspect(fit, "converged"),
              iterations = lavInspect(fit, "iterations"),
              seconds = as.numeric(fit@timing$total),
              information = lavInspect(fit, "options")$information[1],
              lavaan = as.character(packageVersion("lavaan")), R = R.version.string,
              syntax = syntax)
  writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
             file.path(fix_dir, paste0("lavaan_", case, "_fit.json")))
  cat(case, ": chisq", fm$chisq, "df", fm$df, "logl", fm$logl, "\n")
}

run <- function(case, syntax, data, information = "observed") {
  fit <- lavaan(syntax, data = data, missing = "ML", meanstructure = TRUE, int.ov.free = TRUE,
                fixed.x = FALSE, information = information)
  save_fit(case, fit, syntax)
}

# lavaan_mlr.R sources this file for the model functions only (models_only = TRUE).
if (!exists("models_only")) {
  complete <- read_wide("lavaan_data_complete.csv", 1:5)
  missing <- read_wide("lavaan_data_missing.csv", 1:6)

  run("riclpm_complete", riclpm(1:5), complete)
  run("riclpm_complete_constrained", riclpm(1:5, constrained = TRUE), complete)
  run("riclpm_missing", riclpm(1:6), missing)
  run("riclpm_missing_constrained", riclpm(1:6, constrained = TRUE), missing)
  run("riclpm_missing_expected", riclpm(1:6), missing, information = "expected")
  run("riclpm_missing_invmeans", riclpm(1:6, constrained = TRUE, invariant_means = TRUE), missing)
  run("clpm_complete", clpm(1:5), complete)
  run("clpm_missing_constrained", clpm(1:6, constrained = TRUE), missing)
  run("dpml_missing", dpml(1:6), missing)

  covdata <- read_wide("lavaan_data_covariates.csv", 1:5, c("arm", "severity"))
  run("riclpm_covariates", riclpm(1:5, cov = c("arm", "severity")), covdata)
  run("dpml_covariates", dpml(1:5, cov = c("arm", "severity")), covdata)

  # The lavaan tutorial's SEM example (complete data, sem() defaults: expected information,
  # no mean structure). Its published output: chisq 38.125 on 35 df.
  poldem_syntax <- "
    # measurement model
      ind60 =~ x1 + x2 + x3
      dem60 =~ y1 + y2 + y3 + y4
      dem65 =~ y5 + y6 + y7 + y8
    # regressions
      dem60 ~ ind60
      dem65 ~ ind60 + dem60
    # residual correlations
      y1 ~~ y5
      y2 ~~ y4 + y6
      y3 ~~ y7
      y4 ~~ y8
      y6 ~~ y8
  "
  write.csv(PoliticalDemocracy, file.path(fix_dir, "lavaan_poldem_data.csv"), row.names = FALSE)
  save_fit("poldem", sem(poldem_syntax, data = PoliticalDemocracy), poldem_syntax)
}

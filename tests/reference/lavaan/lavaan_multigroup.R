# Multiple-group reference fits for causalrel.sem, by lavaan (0.6.14 when these were made).
#
# Run from the repository root after `python tests/reference/lavaan/make_lavaan_data.py`:
#     Rscript tests/reference/lavaan/lavaan_multigroup.R
# Writes tests/reference/lavaan/lavaan_mg_<case>_params.csv (parameterEstimates with the
# block/group columns, + std.all) and lavaan_mg_<case>_fit.json (fitMeasures, group labels).
#
# Data: two treatment arms ("control", "treatment"; a string column `arm`, constant within
# client) with different cross-lagged effects and missing ratings (lavaan_data_multigroup.csv).
# Models are written here independently of the Python code: the RI-CLPM of Mulder & Hamaker
# (2021), fitted with lavaan(..., group = "arm", missing = "ML", meanstructure = TRUE,
# int.ov.free = TRUE): everything free per group, or with group.equal = "regressions" (the
# lagged effects equal across arms), or time-invariant lags per arm written with c(a1, a2)*
# labels, or (co)variances and means equal across arms as well.

suppressPackageStartupMessages(library(lavaan))
library(jsonlite)

fix_dir <- file.path("tests", "reference", "lavaan")
long <- read.csv(file.path(fix_dir, "lavaan_data_multigroup.csv"))
waves <- 1:5
ids <- unique(long$client)
wide <- data.frame(client = ids, arm = long$arm[match(ids, long$client)])
for (s in waves) {
  at <- long[long$session == s, ]
  wide[[paste0("x", s)]] <- at$alliance[match(ids, at$client)]
  wide[[paste0("y", s)]] <- at$symptoms[match(ids, at$client)]
}
xy <- wide[, grepl("^[xy][0-9]+$", names(wide))]
wide <- wide[rowSums(!is.na(xy)) > 0, ]

# lagged effects; `lab` = NULL (free per wave) or a function giving the label modifier
lags <- function(pre, s, lab = NULL) {
  if (is.null(lab)) {
    return(sprintf("%sx%d + %sy%d ~ %sx%d + %sy%d", pre, s, pre, s, pre, s - 1, pre, s - 1))
  }
  c(sprintf("%sx%d ~ %s*%sx%d + %s*%sy%d", pre, s, lab("ar_x"), pre, s - 1, lab("cl_yx"), pre,
            s - 1),
    sprintf("%sy%d ~ %s*%sx%d + %s*%sy%d", pre, s, lab("cl_xy"), pre, s - 1, lab("ar_y"), pre,
            s - 1))
}
per_group <- function(name) sprintf("c(%s_g1, %s_g2)", name, name)

riclpm <- function(lab = NULL, equal_means = FALSE) {
  m <- c(paste("RIx =~", paste0("1*x", waves, collapse = " + ")),
         paste("RIy =~", paste0("1*y", waves, collapse = " + ")),
         sprintf("wx%d =~ 1*x%d", waves, waves),
         sprintf("wy%d =~ 1*y%d", waves, waves))
  for (s in waves[-1]) m <- c(m, lags("w", s, lab))
  m <- c(m, sprintf("wx%d ~~ wy%d", waves, waves),
         "RIx ~~ RIx", "RIy ~~ RIy", "RIx ~~ RIy",
         sprintf("wx%d ~~ wx%d", waves, waves), sprintf("wy%d ~~ wy%d", waves, waves))
  if (equal_means) m <- c(m, sprintf("x%d ~ c(mx%d, mx%d)*1", waves, waves, waves),
                          sprintf("y%d ~ c(my%d, my%d)*1", waves, waves, waves))
  paste(m, collapse = "\n")
}

clpm <- function() {
  m <- character(0)
  for (s in waves[-1]) m <- c(m, lags("", s))
  m <- c(m, sprintf("x%d ~~ y%d", waves, waves),
         sprintf("x%d ~~ x%d", waves, waves), sprintf("y%d ~~ y%d", waves, waves))
  paste(m, collapse = "\n")
}

measures <- c("npar", "chisq", "df", "pvalue", "baseline.chisq", "baseline.df", "cfi", "tli",
              "rmsea", "rmsea.ci.lower", "rmsea.ci.upper", "srmr", "logl", "unrestricted.logl",
              "aic", "bic", "ntotal")

run <- function(case, syntax, group.equal = "", information = "observed") {
  fit <- lavaan(syntax, data = wide, group = "arm", group.label = c("control", "treatment"),
                missing = "ML", meanstructure = TRUE, int.ov.free = TRUE, fixed.x = FALSE,
                group.equal = group.equal, information = information)
  pe <- parameterEstimates(fit, standardized = TRUE, remove.nonfree = FALSE)
  pe <- pe[pe$op %in% c("=~", "~", "~~", "~1"), ]
  cols <- c("lhs", "op", "rhs", "block", "group", "label", "est", "se", "z", "pvalue",
            "ci.lower", "ci.upper", "std.all")
  write.csv(pe[, intersect(cols, names(pe))],
            file.path(fix_dir, paste0("lavaan_mg_", case, "_params.csv")), row.names = FALSE)
  fm <- as.list(fitMeasures(fit, measures))
  out <- list(case = case, fit = lapply(fm, as.numeric),
              chisq.group = as.numeric(lavInspect(fit, "test")$standard$stat.group),
              group.label = lavInspect(fit, "group.label"),
              nobs = as.numeric(lavInspect(fit, "nobs")),
              group.equal = group.equal,
              converged = lavInspect(fit, "converged"),
              seconds = as.numeric(fit@timing$total),
              information = information,
              lavaan = as.character(packageVersion("lavaan")), R = R.version.string,
              syntax = syntax)
  writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
             file.path(fix_dir, paste0("lavaan_mg_", case, "_fit.json")))
  cat(case, ": chisq", fm$chisq, "df", fm$df, "logl", fm$logl, "\n")
}

run("riclpm_free", riclpm())
run("riclpm_regressions", riclpm(), group.equal = "regressions")
run("riclpm_constrained", riclpm(lab = per_group))
run("riclpm_equal_all", riclpm(equal_means = TRUE),
    group.equal = c("regressions", "lv.variances", "lv.covariances"))
run("clpm_regressions", clpm(), group.equal = "regressions")

# Secondary reference for causalrel.bayes.MLM: the same fixed/random structure by REML in lme4.
# Run from the repository root after make_bayes_fixtures.py: Rscript tests/reference/lme4/lme4_mlm.R
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
fx <- "tests/reference/brms"  # inputs: data, design, priors (make_bayes_fixtures.py)
out <- "tests/reference/lme4"
pri <- fromJSON(file.path(fx, "brms_mlm_priors.json"))
out <- list(versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4"))))
for (eq in names(pri)) {
  p <- pri[[eq]]
  d <- read.csv(file.path(fx, paste0("brms_mlm_design_", eq, ".csv")))
  d$client <- factor(d$client)
  f <- as.formula(paste0(eq, " ~ 1 + ", paste(p$predictors, collapse = " + "),
                         " + (1 + ", p$slope, " | client)"))
  m <- lmer(f, data = d, REML = TRUE)
  cf <- summary(m)$coefficients
  vc <- as.data.frame(VarCorr(m))
  out[[eq]] <- list(fixed = list(term = rownames(cf), est = unname(cf[, 1]), se = unname(cf[, 2])),
                    varcorr = vc, singular = isSingular(m))
}
write(toJSON(out, auto_unbox = TRUE, digits = 10, pretty = TRUE), file.path(out, "lme4_mlm.json"))
cat("wrote", file.path(out, "lme4_mlm.json"), "\n")

# Reference for causalrel.bayes.MLM with its therapist level (sessions in clients in therapists):
# the same fixed and random structure by REML in lme4,
#   outcome ~ 1 + predictors + (1 | therapist) + (1 + slope | client)
# for both equations. Inputs (from make_bayes_fixtures.py): tests/reference/brms/mlm_therapist_design_*.csv
# and tests/reference/brms/mlm_therapist_priors.json (for the predictor names only). Output:
# tests/reference/lme4/lme4_mlm_therapist.json with fixed effects (est, se), variance components and
# the profile 95% interval of the therapist SD.
# Run from the repository root after make_bayes_fixtures.py: Rscript tests/reference/lme4/lme4_mlm_therapist.R
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
fx <- "tests/reference/brms"  # inputs: data, design, priors (make_bayes_fixtures.py)
out <- "tests/reference/lme4"
pri <- fromJSON(file.path(fx, "mlm_therapist_priors.json"))
out <- list(versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4"))))
for (eq in names(pri)) {
  p <- pri[[eq]]
  d <- read.csv(file.path(fx, paste0("mlm_therapist_design_", eq, ".csv")))
  d$client <- factor(d$client)
  d$therapist <- factor(d$therapist)
  f <- as.formula(paste0(eq, " ~ 1 + ", paste(p$predictors, collapse = " + "),
                         " + (1 | therapist) + (1 + ", p$slope, " | client)"))
  m <- lmer(f, data = d, REML = TRUE)
  cf <- summary(m)$coefficients
  vc <- as.data.frame(VarCorr(m))
  # profile interval of the therapist SD only (profiling the client-level correlation warns)
  ci <- confint(m, parm = "sd_(Intercept)|therapist", method = "profile", oldNames = FALSE,
                quiet = TRUE)
  out[[eq]] <- list(fixed = list(term = rownames(cf), est = unname(cf[, 1]), se = unname(cf[, 2])),
                    varcorr = vc,
                    sd_therapist_profile_ci = unname(ci[1, ]),
                    singular = isSingular(m), n_obs = nobs(m),
                    n_clients = nlevels(d$client), n_therapists = nlevels(d$therapist))
}
write(toJSON(out, auto_unbox = TRUE, digits = 10, pretty = TRUE),
      file.path(out, "lme4_mlm_therapist.json"))
cat("wrote", file.path(out, "lme4_mlm_therapist.json"), "\n")

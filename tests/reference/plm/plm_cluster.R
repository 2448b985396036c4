# Reference for causalrel.panel.FixedEffects(...).fit(cluster="therapist"): the within
# estimator with standard errors clustered by therapist (clients nested in therapists).
#
# Run from the repository root after `python tests/reference/lavaan/make_lavaan_data.py`:
#     Rscript tests/reference/plm/plm_cluster.R
# Writes tests/reference/plm/plm_cluster.json. Lags by plm::lag on a pdata.frame (a
# missed session gives a missing lag). plm's vcovHC clusters only by client or session, so
# the fixed-effects model is fitted as the equivalent least-squares dummy-variable
# regression and clustered by therapist with sandwich::vcovCL(type = "HC0", cadjust = FALSE)
# (no small-sample factor, as plm's HC0 and causalrel's default); the slopes equal plm's
# within estimates, which are stored as well.
suppressPackageStartupMessages({
  library(plm)
  library(sandwich)
  library(jsonlite)
})
fix_dir <- file.path("tests", "reference", "plm")
# the data: written for the lavaan references (tests/reference/lavaan/make_lavaan_data.py)
d <- read.csv(file.path("tests", "reference", "lavaan", "lavaan_data_cluster.csv"))
pd <- pdata.frame(d, index = c("client", "session"))
pd$lag_alliance <- lag(pd$alliance)
pd$lag_symptoms <- lag(pd$symptoms)
df <- as.data.frame(pd)
df$client <- factor(df$client)
out <- list()
for (outcome in c("symptoms", "alliance")) {
  f <- as.formula(paste(outcome, "~ lag_alliance + lag_symptoms"))
  within <- plm(f, data = pd, model = "within")
  lsdv <- lm(update(f, . ~ . + client), data = df)
  V <- vcovCL(lsdv, cluster = ~therapist, type = "HC0", cadjust = FALSE)
  k <- c("lag_alliance", "lag_symptoms")
  out[[outcome]] <- list(est = unname(coef(lsdv)[k]), se = unname(sqrt(diag(V)[k])),
                         est_plm = unname(coef(within)[k]), terms = k,
                         nobs = nobs(lsdv))
}
out$versions <- list(R = R.version.string, plm = as.character(packageVersion("plm")),
                     sandwich = as.character(packageVersion("sandwich")))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           file.path(fix_dir, "plm_cluster.json"))
print(out)

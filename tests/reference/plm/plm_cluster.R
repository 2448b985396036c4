# Reference for causalrel.panel.FixedEffects(...).fit(cluster="therapist"): the within
# estimator with standard errors clustered by therapist (clients nested in therapists), and
# for fit(cluster=[A, "session"]): two-way clustering (Cameron, Gelbach & Miller 2011, J Bus
# Econ Stat 29(2), 238-249: V = V_A + V_session - V_(A x session)).
#
# Run from the repository root after `python tests/reference/lavaan/make_lavaan_data.py`:
#     Rscript tests/reference/plm/plm_cluster.R
# Writes tests/reference/plm/plm_cluster.json and plm_cluster_twoway.json (R 4.2.2, plm
# 2.6.2, sandwich 3.0.2 when made). Lags by plm::lag on a pdata.frame (a
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

# -- two-way clustering -------------------------------------------------------------------
# Cases of plm_cluster_twoway.json (each for both equations):
#   therapist_session         cluster by therapist and by session: sandwich::vcovCL on the
#                             equivalent dummy-variable regression (slopes = plm's within),
#                             cluster = ~ therapist + session, type = "HC0", cadjust = FALSE,
#                             multi0 = FALSE (no small-sample factors, as causalrel's default)
#   client_session            cluster by client and by session: plm's own double clustering,
#                             vcovDC(type = "HC0") on the within model (the intersection of
#                             client and session is one row: the HC0 "white" term); the same
#                             by vcovCL on the dummy-variable regression is stored as se_cl
#   therapist_session_common  therapist and session with session fixed effects (effect =
#                             "twoways"; factor(session) in the dummy-variable regression)
df <- as.data.frame(pd)
df$client_f <- factor(df$client)
df$session_f <- factor(df$session)
df$client <- as.integer(as.character(df$client))
df$session <- as.integer(as.character(df$session))
out <- list()
for (outcome in c("symptoms", "alliance")) {
  f <- as.formula(paste(outcome, "~ lag_alliance + lag_symptoms"))
  within <- plm(f, data = pd, model = "within")
  lsdv <- lm(update(f, . ~ . + client_f), data = df)
  used <- df[as.integer(rownames(model.frame(lsdv))), ]
  cl <- function(fit, form) {
    V <- vcovCL(fit, cluster = form, type = "HC0", cadjust = FALSE, multi0 = FALSE)
    unname(sqrt(diag(V)[k]))
  }
  out[[paste0("therapist_session.", outcome)]] <- list(
    est = unname(coef(lsdv)[k]), est_plm = unname(coef(within)[k]),
    se = cl(lsdv, ~ therapist + session), nobs = nobs(lsdv),
    n_clusters = c(length(unique(used$therapist)), length(unique(used$session))))
  out[[paste0("client_session.", outcome)]] <- list(
    est = unname(coef(within)[k]),
    se = unname(sqrt(diag(vcovDC(within, type = "HC0"))[k])),
    se_cl = cl(lsdv, ~ client + session), nobs = nobs(within))
  tw <- plm(f, data = pd, model = "within", effect = "twoways")
  lsdv2 <- lm(update(f, . ~ . + client_f + session_f), data = df)
  out[[paste0("therapist_session_common.", outcome)]] <- list(
    est = unname(coef(lsdv2)[k]), est_plm = unname(coef(tw)[k]),
    se = cl(lsdv2, ~ therapist + session), nobs = nobs(lsdv2))
}
out$terms <- k
out$versions <- list(R = R.version.string, plm = as.character(packageVersion("plm")),
                     sandwich = as.character(packageVersion("sandwich")))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           file.path(fix_dir, "plm_cluster_twoway.json"))
print(out)

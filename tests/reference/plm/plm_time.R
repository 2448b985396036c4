# Reference values for causalrel.panel's time="client" (client-specific linear trends; issue 13),
# on the data of plm_reference.R (tests/reference/plm/plm_data.csv, written there).
#
# Run from the repository root:   Rscript tests/reference/plm/plm_time.R
# Writes tests/reference/plm/plm_time.json. Versions used: R 4.2.2, plm 2.6-2, sandwich.
#
# fe, time="client": the dummy-variable regression with client intercepts, client-specific
#   linear trends in the session number and session effects,
#     lm(outcome ~ lag(alliance) + lag(symptoms) + client + client:session + factor(session)),
#   SEs clustered by client, HC0 (sandwich::vcovCL(type = "HC0", cadjust = FALSE)), as
#   plm's vcovHC(type = "HC0") for the plain within model.
# dpd, time="client": the random-trend dynamic model (Wooldridge 2010 sec. 11.7) as pgmm on the
#   first differences of the data (plm's diff: NA across a missed session), difference GMM with
#   session effects (effect = "twoways"); the differenced errors are MA(1), so the differences
#   from t-3 on are the instruments: lag(d_y, 3:99) + lag(d_x, 3:99).
suppressPackageStartupMessages({
  library(plm)
  library(sandwich)
  library(jsonlite)
})
dir <- file.path("tests", "reference", "plm")
d <- read.csv(file.path(dir, "plm_data.csv"))
pd <- pdata.frame(d, index = c("client", "session"))

coef_table <- function(b, V, keep = names(b)) {
  se <- sqrt(diag(V))[keep]
  lapply(keep, function(k) list(term = k, est = unname(b[k]), se = unname(se[k])))
}

# --- fe ------------------------------------------------------------------------------------
pd$lag_alliance <- lag(pd$alliance)
pd$lag_symptoms <- lag(pd$symptoms)
df <- as.data.frame(pd)
df$session_n <- as.numeric(as.character(df$session))
df$client <- factor(df$client)
fe <- list()
for (outcome in c("symptoms", "alliance")) {
  f <- as.formula(paste(outcome, "~ lag_alliance + lag_symptoms + client + client:session_n",
                        "+ factor(session_n)"))
  m <- lm(f, data = df)
  V <- vcovCL(m, cluster = ~client, type = "HC0", cadjust = FALSE)
  fe[[paste0(outcome, "_client")]] <- list(
    coefficients = coef_table(coef(m), V, c("lag_alliance", "lag_symptoms")),
    nobs = nobs(m))
}

# --- dpd -----------------------------------------------------------------------------------
pd$d_alliance <- diff(pd$alliance)
pd$d_symptoms <- diff(pd$symptoms)
gmm_fit <- function(formula, model, collapse = FALSE) {
  m <- suppressWarnings(pgmm(formula, data = pd, effect = "twoways", model = model,
                             collapse = collapse, transformation = "d"))
  V <- vcovHC(m)
  b <- if (model == "twosteps") m$coefficients[[2]] else m$coefficients
  lags <- grep("^lag", names(b), value = TRUE)
  hansen <- sargan(m)
  ar <- lapply(1:3, function(k) mtest(m, order = k, vcov = V))
  n_used <- sum(unlist(lapply(m$model, function(x) rowSums(x != 0) > 0)))
  list(coefficients = coef_table(b, V, lags),
       hansen = unname(hansen$statistic), hansen_df = unname(hansen$parameter),
       hansen_pvalue = unname(hansen$p.value),
       ar1 = as.numeric(ar[[1]]$statistic), ar2 = as.numeric(ar[[2]]$statistic),
       ar3 = as.numeric(ar[[3]]$statistic), ar3_pvalue = as.numeric(ar[[3]]$p.value),
       n_instruments = ncol(m$W[[1]]), n_clients = length(m$W), n_used = n_used)
}
fy <- d_symptoms ~ lag(d_symptoms, 1) + lag(d_alliance, 1) |
  lag(d_symptoms, 3:99) + lag(d_alliance, 3:99)
fx <- d_alliance ~ lag(d_alliance, 1) + lag(d_symptoms, 1) |
  lag(d_alliance, 3:99) + lag(d_symptoms, 3:99)
dpd <- list(
  symptoms_client_twostep = gmm_fit(fy, "twosteps"),
  alliance_client_twostep = gmm_fit(fx, "twosteps"),
  symptoms_client_onestep = gmm_fit(fy, "onestep"),
  symptoms_client_twostep_collapsed = gmm_fit(fy, "twosteps", collapse = TRUE)
)
res <- list(versions = list(R = paste(R.version$major, R.version$minor, sep = "."),
                            plm = as.character(packageVersion("plm")),
                            sandwich = as.character(packageVersion("sandwich"))),
            fe = fe, dpd = dpd)
write_json(res, file.path(dir, "plm_time.json"), auto_unbox = TRUE, digits = NA, pretty = TRUE)
cat("wrote", file.path(dir, "plm_time.json"), "\n")

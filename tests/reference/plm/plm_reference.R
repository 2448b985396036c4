# Reference values from R plm for causalrel.panel (fixed effects and dynamic panel GMM).
#
# Run from the repository root:   Rscript tests/reference/plm/plm_reference.R
# Writes tests/reference/plm/plm_data.csv (simulated sessions, with gaps and missing
# ratings) and tests/reference/plm/plm_results.json (estimates, SEs and tests).
# The Python test suite reads only those two files; it never needs R.
# Versions used: R 4.2.2, plm 2.6-2, jsonlite.
suppressPackageStartupMessages({
  library(plm)
  library(jsonlite)
})

out_dir <- file.path("tests", "reference", "plm")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)

# ---------------------------------------------------------------------------------------------
# Data: stable traits + within-client VAR(1); x = alliance, y = symptoms.
# Innovations of the same session are correlated, so alliance is predetermined (not strictly
# exogenous) in the symptoms equation. Planned sessions vary (1..8), 8% of sessions are skipped
# (gaps in session numbers) and 5% of each rating is missing.
# ---------------------------------------------------------------------------------------------
set.seed(20240417)
N <- 300
Tmax <- 8
burn <- 50
phi <- matrix(c(0.35, -0.10,   # alliance_t  ~ alliance_{t-1}, symptoms_{t-1}
                -0.25, 0.45),  # symptoms_t  ~ alliance_{t-1}, symptoms_{t-1}
              nrow = 2, byrow = TRUE)
sd_e <- c(0.5, 0.6)
r_e <- -0.3
S_e <- diag(sd_e) %*% matrix(c(1, r_e, r_e, 1), 2) %*% diag(sd_e)
L_e <- t(chol(S_e))
traits <- cbind(rnorm(N, 0, 0.7), rnorm(N, 0, 0.8))
traits[, 2] <- 0.3 * traits[, 1] + traits[, 2]
rows <- list()
for (i in seq_len(N)) {
  w <- c(0, 0)
  for (b in seq_len(burn)) w <- as.vector(phi %*% w + L_e %*% rnorm(2))
  planned <- sample(c(1, 2, 3:Tmax), 1, prob = c(0.02, 0.03, rep(0.95 / (Tmax - 2), Tmax - 2)))
  planned <- max(planned, 1)
  for (t in seq_len(Tmax)) {
    w <- as.vector(phi %*% w + L_e %*% rnorm(2))
    if (t > planned) next
    rows[[length(rows) + 1]] <- data.frame(
      client = i, session = t,
      alliance = traits[i, 1] + w[1], symptoms = 2 + traits[i, 2] + w[2])
  }
}
d <- do.call(rbind, rows)
skip <- runif(nrow(d)) < 0.08 & d$session > 1
d <- d[!skip, ]
d$alliance[runif(nrow(d)) < 0.05] <- NA
d$symptoms[runif(nrow(d)) < 0.05] <- NA
d$alliance <- round(d$alliance, 4)
d$symptoms <- round(d$symptoms, 4)
rownames(d) <- NULL
write.csv(d, file.path(out_dir, "plm_data.csv"), row.names = FALSE, na = "")
d <- read.csv(file.path(out_dir, "plm_data.csv"))  # exactly the values Python reads

pd <- pdata.frame(d, index = c("client", "session"))
stopifnot(all(sort(unique(d$session)) == seq_len(Tmax)))  # plm's time grid = session numbers

# Detrended copy: each client's least-squares line on session removed, client mean kept;
# clients with fewer than 3 observed values of a variable get NA (causalrel.decompose.detrend).
detrend <- function(v, s, id) {
  out <- rep(NA_real_, length(v))
  for (g in unique(id)) {
    k <- which(id == g & !is.na(v))
    if (length(k) < 3) next
    f <- lm(v[k] ~ s[k])
    out[k] <- resid(f) + mean(v[k])
  }
  out
}
dd <- d
dd$alliance <- detrend(d$alliance, d$session, d$client)
dd$symptoms <- detrend(d$symptoms, d$session, d$client)
pdd <- pdata.frame(dd, index = c("client", "session"))

coef_table <- function(b, V) {
  se <- sqrt(diag(V))
  lapply(seq_along(b), function(j) list(term = names(b)[j], est = unname(b[j]), se = unname(se[j])))
}

within_fit <- function(formula, data, effect) {
  m <- plm(formula, data = data, model = "within", effect = effect)
  V <- vcovHC(m, method = "arellano", type = "HC0", cluster = "group")
  list(coefficients = coef_table(coef(m), V),
       r2 = unname(summary(m)$r.squared["rsq"]),
       nobs = nobs(m),
       n_clients = unname(pdim(m)$nT$n))
}

fe <- list(
  symptoms_individual = within_fit(symptoms ~ lag(alliance) + lag(symptoms), pd, "individual"),
  alliance_individual = within_fit(alliance ~ lag(alliance) + lag(symptoms), pd, "individual"),
  symptoms_twoways = within_fit(symptoms ~ lag(alliance) + lag(symptoms), pd, "twoways"),
  alliance_twoways = within_fit(alliance ~ lag(alliance) + lag(symptoms), pd, "twoways"),
  symptoms_nolag = within_fit(symptoms ~ lag(alliance), pd, "individual"),
  alliance_nolag = within_fit(alliance ~ lag(symptoms), pd, "individual"),
  symptoms_detrended = within_fit(symptoms ~ lag(alliance) + lag(symptoms), pdd, "individual"),
  alliance_detrended = within_fit(alliance ~ lag(alliance) + lag(symptoms), pdd, "individual")
)

gmm_fit <- function(formula, model, effect = "individual", collapse = FALSE) {
  m <- suppressWarnings(pgmm(formula, data = pd, effect = effect, model = model,
                             collapse = collapse, transformation = "d"))
  V <- vcovHC(m)
  b <- if (model == "twosteps") m$coefficients[[2]] else m$coefficients
  N <- length(m$W)
  # classical (homoskedastic) Sargan from the one-step residuals:
  # (sum Z_i'e_i)' (sum Z_i'H Z_i)^{-1} (sum Z_i'e_i) / sigma2, sigma2 = e'e / (2 (n - k))
  m1 <- if (model == "onestep") m else
    suppressWarnings(pgmm(formula, data = pd, effect = effect, model = "onestep",
                          collapse = collapse, transformation = "d"))
  e1 <- unlist(m1$residuals)
  n_used <- sum(unlist(lapply(m1$model, function(x) rowSums(x != 0) > 0)))
  s2 <- sum(e1^2) / (2 * (n_used - length(b)))
  sar <- sargan(m1, "onestep")$statistic / N / s2
  hansen <- sargan(m)
  ar1 <- mtest(m, order = 1, vcov = V)
  ar2 <- mtest(m, order = 2, vcov = V)
  list(coefficients = coef_table(b, V),
       hansen = unname(hansen$statistic), hansen_df = unname(hansen$parameter),
       hansen_pvalue = unname(hansen$p.value),
       sargan = unname(sar),
       ar1 = as.numeric(ar1$statistic), ar1_pvalue = as.numeric(ar1$p.value),
       ar2 = as.numeric(ar2$statistic), ar2_pvalue = as.numeric(ar2$p.value),
       n_instruments = ncol(m$W[[1]]), n_clients = N, n_used = n_used)
}

fy <- symptoms ~ lag(symptoms, 1) + lag(alliance, 1) | lag(symptoms, 2:99) + lag(alliance, 2:99)
fx <- alliance ~ lag(alliance, 1) + lag(symptoms, 1) | lag(alliance, 2:99) + lag(symptoms, 2:99)
fy_exo <- symptoms ~ lag(symptoms, 1) + lag(alliance, 1) | lag(symptoms, 2:99) + lag(alliance, 1:99)
fy_ah <- symptoms ~ lag(symptoms, 1) + lag(alliance, 1) | lag(symptoms, 2:2) + lag(alliance, 2:2)
fx_ah <- alliance ~ lag(alliance, 1) + lag(symptoms, 1) | lag(alliance, 2:2) + lag(symptoms, 2:2)
fy_max <- symptoms ~ lag(symptoms, 1) + lag(alliance, 1) | lag(symptoms, 2:4) + lag(alliance, 2:4)

dpd <- list(
  symptoms_onestep = gmm_fit(fy, "onestep"),
  alliance_onestep = gmm_fit(fx, "onestep"),
  symptoms_twostep = gmm_fit(fy, "twosteps"),
  alliance_twostep = gmm_fit(fx, "twosteps"),
  symptoms_twostep_collapsed = gmm_fit(fy, "twosteps", collapse = TRUE),
  symptoms_twostep_exogenous = gmm_fit(fy_exo, "twosteps"),
  symptoms_twostep_twoways = gmm_fit(fy, "twosteps", effect = "twoways"),
  symptoms_twostep_maxlag4 = gmm_fit(fy_max, "twosteps"),
  symptoms_ah = gmm_fit(fy_ah, "onestep", collapse = TRUE),
  alliance_ah = gmm_fit(fx_ah, "onestep", collapse = TRUE)
)

res <- list(
  versions = list(R = paste(R.version$major, R.version$minor, sep = "."),
                  plm = as.character(packageVersion("plm"))),
  n_rows = nrow(d), n_clients = length(unique(d$client)),
  fe = fe, dpd = dpd)
write_json(res, file.path(out_dir, "plm_results.json"), auto_unbox = TRUE, digits = NA,
           pretty = TRUE)
cat("wrote", file.path(out_dir, "plm_results.json"), "\n")

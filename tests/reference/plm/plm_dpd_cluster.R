# Reference for causalrel.panel.DynamicPanel(...).fit(cluster="therapist"): difference GMM
# (plm::pgmm) with standard errors clustered by therapist (clients nested in therapists).
#
# Run from the repository root after `python tests/reference/lavaan/make_lavaan_data.py`:
#     Rscript tests/reference/plm/plm_dpd_cluster.R
# Writes tests/reference/plm/plm_dpd_cluster.json. Run with R 4.2.2, plm 2.6-2, jsonlite.
#
# No R package clusters pgmm's covariance above the individual (plm's vcovHC.pgmm sums the
# moments per individual; pgmm has no cluster argument). So the therapist-clustered covariance
# is computed here from pgmm's own matrices (instruments W_i, model matrices, one-step
# residuals, weights A1/A2, coefficients), as vcovHC.pgmm does, with one change: the clients'
# moments W_i'e1_i are summed within therapist before their outer products:
#     V = M Omega_K M',   Omega_K = sum_c (sum_{i in c} W_i'e1_i)(...)'
#     one-step: M = B1 WX' A1;   two-step: M = B2 WX' A2 + D B1 WX' A1
# with D Windmeijer's (2005) derivative, computed exactly as vcovHC.pgmm computes it. The
# script first checks that clustering by client (one client per cluster) reproduces pgmm's
# vcovHC to 1e-10, which ties the formula to pgmm; estimates are pgmm's (clustering leaves
# them unchanged, the weights stay the client-level ones).
suppressPackageStartupMessages({
  library(plm)
  library(jsonlite)
})
fix_dir <- file.path("tests", "reference", "plm")
d <- read.csv(file.path("tests", "reference", "lavaan", "lavaan_data_cluster.csv"))
pd <- pdata.frame(d, index = c("client", "session"))
therapist <- tapply(d$therapist, d$client, function(v) v[1])  # one therapist per client

clustered_vcov <- function(m, groups) {
  W <- m$W
  yX <- m$model
  A1 <- m$A1
  WX <- Reduce("+", mapply(function(w, y) crossprod(w, y[, -1L, drop = FALSE]), W, yX,
                           SIMPLIFY = FALSE))
  B1 <- solve(t(WX) %*% A1 %*% WX)
  S1 <- B1 %*% t(WX) %*% A1
  two <- plm:::describe(m, "model") == "twosteps"
  coef1s <- if (two) m$coefficients[[1L]] else m$coefficients
  res1s <- lapply(yX, function(x) x[, 1L] - crossprod(t(x[, -1L, drop = FALSE]), coef1s))
  if (two) {
    A2 <- m$A2
    B2 <- vcov(m)
    We <- Reduce("+", mapply(function(w, e) crossprod(w, e), W, m$residuals, SIMPLIFY = FALSE))
    K <- ncol(yX[[1L]])
    D <- c()
    for (k in 2:K) {  # as plm:::vcovHC.pgmm
      exk <- mapply(function(x, y) {
        z <- crossprod(t(x[, k, drop = FALSE]), t(y))
        -z - t(z)
      }, yX, res1s, SIMPLIFY = FALSE)
      wexkw <- Reduce("+", mapply(function(x, y) crossprod(x, crossprod(y, x)), W, exk,
                                  SIMPLIFY = FALSE))
      D <- cbind(D, -B2 %*% t(WX) %*% A2 %*% wexkw %*% A2 %*% We)
    }
    M <- B2 %*% t(WX) %*% A2 + D %*% S1
  } else {
    M <- S1
  }
  g <- t(mapply(function(w, e) as.vector(crossprod(w, e)), W, res1s))  # clients x instruments
  G <- rowsum(g, groups[names(W)])  # summed within cluster
  M %*% crossprod(G) %*% t(M)
}

fy <- symptoms ~ lag(symptoms, 1) + lag(alliance, 1) | lag(symptoms, 2:99) + lag(alliance, 2:99)
fx <- alliance ~ lag(alliance, 1) + lag(symptoms, 1) | lag(alliance, 2:99) + lag(symptoms, 2:99)
cases <- list(
  symptoms_twostep = list(f = fy, model = "twosteps", effect = "twoways", collapse = TRUE),
  alliance_twostep = list(f = fx, model = "twosteps", effect = "twoways", collapse = TRUE),
  symptoms_onestep = list(f = fy, model = "onestep", effect = "twoways", collapse = TRUE),
  symptoms_twostep_uncollapsed_none = list(f = fy, model = "twosteps", effect = "individual",
                                           collapse = FALSE)
)
out <- list()
for (name in names(cases)) {
  cs <- cases[[name]]
  m <- suppressWarnings(pgmm(cs$f, data = pd, effect = cs$effect, model = cs$model,
                             collapse = cs$collapse, transformation = "d"))
  ids <- setNames(names(m$W), names(m$W))
  V_client <- clustered_vcov(m, ids)
  V_pgmm <- vcovHC(m)
  stopifnot(max(abs(V_client - V_pgmm)) < 1e-10 * max(abs(V_pgmm)))
  V <- clustered_vcov(m, therapist)
  b <- if (cs$model == "twosteps") m$coefficients[[2L]] else m$coefficients
  out[[name]] <- list(
    terms = names(b), est = unname(b), se = unname(sqrt(diag(V))),
    se_client = unname(sqrt(diag(V_pgmm))),
    n_clients = length(m$W), n_clusters = length(unique(therapist[names(m$W)])),
    model = cs$model, effect = cs$effect, collapse = cs$collapse)
}
out$versions <- list(R = R.version.string, plm = as.character(packageVersion("plm")))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           file.path(fix_dir, "plm_dpd_cluster.json"))
str(out)

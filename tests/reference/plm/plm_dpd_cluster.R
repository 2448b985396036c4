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
#
# The Hansen and Arellano-Bond AR tests at the cluster level (as Stata's xtabond2 with
# cluster(); causalrel.panel.hypotheses) are computed from the same matrices by
# clustered_tests(): plm's sargan() and mtest() with the clients' moments W_i'e_i and residual
# products e_i'e_(i,-j) summed within therapist; the Hansen statistic is the minimum of the GMM
# objective with the cluster-level weight (sum_c S_c S_c')^-1 (S_c: cluster sums of the
# one-step moments), NA with no more clusters than instruments; the AR tests use the clustered
# covariance above. Clustering by client reproduces sargan(m) and mtest(m, j, vcov = vcovHC(m))
# to 1e-8 (checked), which ties these formulas to pgmm's.
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

clustered_tests <- function(m, groups, V) {
  W <- m$W
  yX <- m$model
  two <- plm:::describe(m, "model") == "twosteps"
  b <- if (two) m$coefficients[[2L]] else m$coefficients
  coef1s <- if (two) m$coefficients[[1L]] else m$coefficients
  res1s <- lapply(yX, function(x) x[, 1L] - crossprod(t(x[, -1L, drop = FALSE]), coef1s))
  g <- groups[names(W)]
  S1 <- rowsum(t(mapply(function(w, e) as.vector(crossprod(w, e)), W, res1s)), g)
  omega <- crossprod(S1)
  WX <- Reduce("+", mapply(function(w, x) crossprod(w, x[, -1L, drop = FALSE]), W, yX,
                           SIMPLIFY = FALSE))
  Wy <- Reduce("+", mapply(function(w, x) crossprod(w, x[, 1L]), W, yX, SIMPLIFY = FALSE))
  p <- ncol(W[[1L]])
  hansen <- NA
  if (nrow(S1) > p) {
    A <- solve(omega)
    bk <- if (two) solve(t(WX) %*% A %*% WX, t(WX) %*% A %*% Wy) else coef1s
    z <- Wy - WX %*% bk
    hansen <- as.numeric(t(z) %*% A %*% z)
  }
  A <- if (two) m$A2 else m$A1
  X <- lapply(yX, function(x) x[, -1L, drop = FALSE])
  ar <- sapply(1:2, function(j) {
    residl <- lapply(m$residuals, function(x) c(rep(0, j), x[seq_len(length(x) - j)]))
    cc <- rowsum(mapply(crossprod, m$residuals, residl), g)
    G <- rowsum(t(mapply(function(w, e) as.vector(crossprod(w, e)), W, m$residuals)), g)
    EX <- Reduce("+", mapply(crossprod, residl, X, SIMPLIFY = FALSE))
    denom <- sum(cc^2) - 2 * EX %*% vcov(m) %*% t(WX) %*% A %*% (t(G) %*% cc) +
      EX %*% V %*% t(EX)
    sum(cc) / sqrt(as.numeric(denom))
  })
  list(hansen = hansen, hansen_df = p - length(b), ar1 = ar[1], ar2 = ar[2])
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
  tc <- clustered_tests(m, ids, V_pgmm)
  # (vcov as a matrix: given the function vcovHC, mtest would also call it in place of
  # vcov(m) in the estimator's influence term)
  stopifnot(abs(tc$ar1 - mtest(m, 1, vcov = V_pgmm)$statistic) < 1e-8,
            abs(tc$ar2 - mtest(m, 2, vcov = V_pgmm)$statistic) < 1e-8)
  if (!is.na(tc$hansen)) stopifnot(abs(tc$hansen - sargan(m)$statistic) < 1e-8)
  tests <- clustered_tests(m, therapist, V)
  b <- if (cs$model == "twosteps") m$coefficients[[2L]] else m$coefficients
  out[[name]] <- list(
    terms = names(b), est = unname(b), se = unname(sqrt(diag(V))),
    se_client = unname(sqrt(diag(V_pgmm))),
    tests = tests, tests_client = list(hansen = unname(sargan(m)$statistic),
                                       ar1 = as.numeric(mtest(m, 1, vcov = V_pgmm)$statistic),
                                       ar2 = as.numeric(mtest(m, 2, vcov = V_pgmm)$statistic)),
    n_clients = length(m$W), n_clusters = length(unique(therapist[names(m$W)])),
    model = cs$model, effect = cs$effect, collapse = cs$collapse)
}
out$versions <- list(R = R.version.string, plm = as.character(packageVersion("plm")))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           file.path(fix_dir, "plm_dpd_cluster.json"))
str(out)

# Reference for causalrel.bayes.MLM with its therapist level: the same three-level
# person-mean-centred model and priors in brms,
#   outcome ~ 0 + Intercept + predictors + (1 | therapist) + (1 + slope | client).
# Inputs (from make_bayes_fixtures.py): tests/reference/brms/mlm_therapist_design_{symptoms,alliance}.csv and
# tests/reference/brms/mlm_therapist_priors.json. Output: tests/reference/brms/brms_mlm_therapist.json with posterior
# means/SDs/quantiles of every parameter (reference run: 4 x 2500 draws) and the ESS of a
# 4 x 1000 run (the size causalrel's test samples), for comparing mixing.
# Run from the repository root: Rscript tests/reference/brms/brms_mlm_therapist.R (about 8 min on
# 2 busy cores, 2 x 50 s of it compiling)
suppressPackageStartupMessages({library(brms); library(jsonlite); library(posterior)})
fx <- "tests/reference/brms"
pri <- fromJSON(file.path(fx, "mlm_therapist_priors.json"))
out <- list(versions = list(R = R.version.string, brms = as.character(packageVersion("brms")),
                            rstan = as.character(packageVersion("rstan"))))
for (eq in names(pri)) {
  p <- pri[[eq]]
  d <- read.csv(file.path(fx, paste0("mlm_therapist_design_", eq, ".csv")))
  d$client <- factor(d$client)
  d$therapist <- factor(d$therapist)
  f <- as.formula(paste0(eq, " ~ 0 + Intercept + ", paste(p$predictors, collapse = " + "),
                         " + (1 | therapist) + (1 + ", p$slope, " | client)"))
  pr <- c(set_prior(sprintf("normal(%.10g, %.10g)", p$intercept[1], p$intercept[2]),
                    class = "b", coef = "Intercept"))
  for (j in seq_along(p$predictors))
    pr <- c(pr, set_prior(sprintf("normal(0, %.10g)", p$b_sd[j]), class = "b", coef = p$predictors[j]))
  pr <- c(pr,
          set_prior(sprintf("normal(0, %.10g)", p$sd_sd[1]), class = "sd", group = "client", coef = "Intercept"),
          set_prior(sprintf("normal(0, %.10g)", p$sd_sd[2]), class = "sd", group = "client", coef = p$slope),
          set_prior(sprintf("normal(0, %.10g)", p$sd_therapist_sd), class = "sd", group = "therapist",
                    coef = "Intercept"),
          set_prior(sprintf("normal(0, %.10g)", p$sigma_sd), class = "sigma"),
          set_prior(sprintf("lkj(%g)", p$lkj_eta), class = "cor"))
  fit0 <- brm(f, data = d, prior = pr, chains = 0, backend = "rstan")  # compile only
  keep <- "^(b_|sd_|cor_|sigma)"
  # short run: 4 chains x (1000 warm-up + 1000 draws), the size of causalrel's test fit
  t0 <- Sys.time()
  fitb <- update(fit0, chains = 4, cores = 2, iter = 2000, warmup = 1000, seed = 1, refresh = 0)
  bench_s <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
  sb <- summarise_draws(as_draws_df(fitb), "rhat", "ess_bulk", "ess_tail")
  sb <- sb[grepl(keep, sb$variable), ]
  # reference run: 4 x 2500 draws, so Monte Carlo error of a mean is ~2% of a posterior SD
  fit <- update(fit0, chains = 4, cores = 2, iter = 3500, warmup = 1000, seed = 2, refresh = 0)
  s <- summarise_draws(as_draws_df(fit), "mean", "sd", "rhat", "ess_bulk", "ess_tail",
                       ~quantile(.x, probs = c(0.025, 0.975)))
  s <- s[grepl(keep, s$variable), ]
  out[[eq]] <- list(
    params = as.data.frame(s),
    short_run = list(seconds_wall = bench_s, rhat_max = max(sb$rhat),
                     ess_bulk = setNames(as.list(sb$ess_bulk), sb$variable),
                     ess_tail = setNames(as.list(sb$ess_tail), sb$variable),
                     divergences = sum(nuts_params(fitb, pars = "divergent__")$Value)))
}
write(toJSON(out, auto_unbox = TRUE, digits = 10, pretty = TRUE),
      file.path(fx, "brms_mlm_therapist.json"))
cat("wrote", file.path(fx, "brms_mlm_therapist.json"), "\n")

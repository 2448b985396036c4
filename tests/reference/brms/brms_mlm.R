# Reference for causalrel.bayes.MLM: the same person-mean-centred model and priors in brms.
# Inputs (from make_bayes_fixtures.py): tests/reference/brms/brms_mlm_design_{symptoms,alliance}.csv and
# tests/reference/brms/brms_mlm_priors.json. Output: tests/reference/brms/brms_mlm.json with posterior means/SDs of every
# parameter (long run: 4 x 5000 draws) and the ESS/second of a 4 x 1000 run (benchmark).
# Run from the repository root: Rscript tests/reference/brms/brms_mlm.R
suppressPackageStartupMessages({library(brms); library(jsonlite); library(posterior)})
fx <- "tests/reference/brms"
pri <- fromJSON(file.path(fx, "brms_mlm_priors.json"))
out <- list(versions = list(R = R.version.string, brms = as.character(packageVersion("brms")),
                            rstan = as.character(packageVersion("rstan"))))
for (eq in names(pri)) {
  p <- pri[[eq]]
  d <- read.csv(file.path(fx, paste0("brms_mlm_design_", eq, ".csv")))
  d$client <- factor(d$client)
  f <- as.formula(paste0(eq, " ~ 0 + Intercept + ", paste(p$predictors, collapse = " + "),
                         " + (1 + ", p$slope, " | client)"))
  pr <- c(set_prior(sprintf("normal(%.10g, %.10g)", p$intercept[1], p$intercept[2]),
                    class = "b", coef = "Intercept"))
  for (j in seq_along(p$predictors))
    pr <- c(pr, set_prior(sprintf("normal(0, %.10g)", p$b_sd[j]), class = "b", coef = p$predictors[j]))
  pr <- c(pr,
          set_prior(sprintf("normal(0, %.10g)", p$sd_sd[1]), class = "sd", group = "client", coef = "Intercept"),
          set_prior(sprintf("normal(0, %.10g)", p$sd_sd[2]), class = "sd", group = "client", coef = p$slope),
          set_prior(sprintf("normal(0, %.10g)", p$sigma_sd), class = "sigma"),
          set_prior(sprintf("lkj(%g)", p$lkj_eta), class = "cor"))
  t0 <- Sys.time()
  fit0 <- brm(f, data = d, prior = pr, chains = 0, backend = "rstan")  # compile only
  compile_s <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
  # benchmark run: 4 chains x (1000 warm-up + 1000 draws) on 2 cores, like causalrel's default
  t0 <- Sys.time()
  fitb <- update(fit0, chains = 4, cores = 2, iter = 2000, warmup = 1000, seed = 1, refresh = 0)
  bench_s <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
  sb <- summarise_draws(as_draws_df(fitb), "mean", "sd", "rhat", "ess_bulk", "ess_tail")
  sb <- sb[grepl("^(b_|sd_|cor_|sigma)", sb$variable), ]
  # reference run: 4 x 5000 draws, so Monte Carlo error is ~1% of a posterior SD
  fit <- update(fit0, chains = 4, cores = 2, iter = 6000, warmup = 1000, seed = 2, refresh = 0)
  s <- summarise_draws(as_draws_df(fit), "mean", "sd", "rhat", "ess_bulk", "ess_tail",
                       ~quantile(.x, probs = c(0.025, 0.975)))
  s <- s[grepl("^(b_|sd_|cor_|sigma)", s$variable), ]
  out[[eq]] <- list(
    params = as.data.frame(s),
    benchmark = list(seconds_wall = bench_s, compile_seconds = compile_s,
                     ess_bulk_min = min(sb$ess_bulk), rhat_max = max(sb$rhat),
                     ess_bulk = setNames(as.list(sb$ess_bulk), sb$variable),
                     sampling_seconds_per_chain = as.list(rowSums(rstan::get_elapsed_time(fitb$fit)))))
}
write(toJSON(out, auto_unbox = TRUE, digits = 10, pretty = TRUE), file.path(fx, "brms_mlm.json"))
cat("wrote", file.path(fx, "brms_mlm.json"), "\n")

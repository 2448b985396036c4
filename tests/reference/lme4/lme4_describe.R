# Reference values for causalrel.decompose.describe on data we did not write:
# the Grunfeld investment panel shipped with plm (10 firms x 20 years).
# Output: tests/reference/lme4/grunfeld.csv (firm as client, year-1934 as session) and
#         tests/reference/lme4/lme4_describe_grunfeld.json (REML random-intercept shares, correlations).
# Run from the repository root: Rscript tests/reference/lme4/lme4_describe.R
suppressMessages({library(plm); library(lme4); library(jsonlite)})
data("Grunfeld", package = "plm")
d <- data.frame(client = Grunfeld$firm, session = Grunfeld$year - 1934L,
                inv = Grunfeld$inv, value = Grunfeld$value)
write.csv(d, "tests/reference/lme4/grunfeld.csv", row.names = FALSE)
share <- function(v) {
  z <- (d[[v]] - mean(d[[v]])) / sd(d[[v]])
  m <- lmer(z ~ 1 + (1 | client), data = transform(d, z = z), REML = TRUE)
  vc <- as.data.frame(VarCorr(m))
  vc$vcov[1] / sum(vc$vcov)
}
means <- aggregate(cbind(inv, value) ~ client, data = d, FUN = mean)
dev <- d[, c("inv", "value")] - means[match(d$client, means$client), c("inv", "value")]
out <- list(
  between_share = list(inv = share("inv"), value = share("value")),
  correlations = list(pooled = cor(d$inv, d$value), between = cor(means$inv, means$value),
                      within = cor(dev$inv, dev$value)),
  versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")))
)
write_json(out, "tests/reference/lme4/lme4_describe_grunfeld.json", digits = 12, auto_unbox = TRUE, pretty = TRUE)

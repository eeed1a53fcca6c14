#!/usr/bin/env Rscript
# Writes tests/fixtures/metafor/publication_bias.json: metafor's regtest, ranktest and trimfill
# on the data sets the Python tests replay, plus Harbord's modified test computed by hand with
# lm() (metafor has no Harbord test). Run from the repository root:
#   Rscript tests/metafor/make_reference_bias.R
# Needs metafor (3.8-1 was used), metadat and jsonlite. The input data go into the JSON, so the
# tests need neither R nor metadat.
#
# Iterative tau^2 estimators run with tight controls (REML threshold 1e-12, PM tol 1e-12) so the
# reference is the estimator's value; metafor's default REML stopping rule (threshold 1e-5) is
# stored as well (control = "default"). trimfill() fits its internal models with the controls
# passed through its `...`, so the tight controls are handed to it explicitly.

suppressPackageStartupMessages({
  library(metafor)
  library(metadat)
  library(jsonlite)
})

out_path <- file.path("tests", "fixtures", "metafor", "publication_bias.json")

tight <- function(method) {
  if (method == "PM") return(list(tol = 1e-12))
  if (method == "REML") return(list(threshold = 1e-12, maxiter = 1000))
  list()
}

num <- function(x) if (is.null(x) || length(x) == 0) NA_real_ else unname(as.numeric(x))

# ---------------------------------------------------------------- input data
binary_set <- function(study, ai, n1i, ci, n2i, measure) {
  es <- escalc(measure = measure, ai = ai, n1i = n1i, ci = ci, n2i = n2i)
  list(measure = measure, study = as.character(study),
       events_treat = ai, n_treat = n1i, events_ctrl = ci, n_ctrl = n2i,
       ni = n1i + n2i, yi = c(es$yi), vi = c(es$vi))
}

bcg <- dat.bcg
eg <- dat.egger2001[-16, ]  # metafor's regtest example: ISIS-4 removed
pri <- dat.pritz1997
pri_es <- escalc(measure = "PLO", xi = pri$xi, ni = pri$ni)
hac <- dat.hackshaw1998

# A hand-made GEN set of 60 studies (k >= 50: R's cor.test would switch to the normal
# approximation if metafor did not ask for the exact test) with an asymmetric funnel.
big_k <- 60
big_vi <- 0.01 + ((1:big_k * 37) %% 61) / 200
big_yi <- 0.2 + 0.8 * sqrt(big_vi) + sin(1:big_k * 1.7) * 0.15

# Tied sampling variances (several studies of the same size): the rank test then cannot be
# exact and uses the normal approximation with the tie correction.
ties_yi <- c(0.10, 0.35, -0.05, 0.42, 0.61, 0.15, 0.80, 0.05, 0.33, 0.52, 0.27)
ties_vi <- c(0.04, 0.04, 0.02, 0.09, 0.16, 0.02, 0.25, 0.01, 0.09, 0.16, 0.04)

# hackshaw1998 mirrored (yi -> -yi): the funnel is asymmetric the other way, so trimfill's
# automatic side choice picks "right".
datasets <- list(
  bcg = binary_set(bcg$author, bcg$tpos, bcg$tpos + bcg$tneg, bcg$cpos, bcg$cpos + bcg$cneg, "RR"),
  egger2001 = binary_set(eg$study, eg$ai, eg$n1i, eg$ci, eg$n2i, "OR"),
  # Harbord's test on tables with zero cells: two tables without events in either arm (V = 0,
  # they cannot enter) and single-zero tables (they can).
  zeros = binary_set(paste0("z", 1:12),
                     c(0, 3, 0, 5, 2, 0, 1, 7, 4, 0, 2, 9),
                     c(20, 25, 15, 30, 12, 40, 18, 60, 35, 22, 16, 80),
                     c(4, 0, 0, 9, 1, 6, 3, 12, 8, 0, 5, 15),
                     c(22, 24, 16, 31, 14, 41, 20, 58, 36, 21, 15, 79), "OR"),
  pritz1997 = list(measure = "PLO", study = as.character(pri$authors), events = pri$xi,
                   n = pri$ni, ni = pri$ni, yi = c(pri_es$yi), vi = c(pri_es$vi)),
  hackshaw1998 = list(measure = "GEN", study = paste(hac$author, hac$year),
                      yi = hac$yi, vi = hac$vi),
  hackshaw_mirrored = list(measure = "GEN", study = paste(hac$author, hac$year),
                           yi = -hac$yi, vi = hac$vi),
  big60 = list(measure = "GEN", study = paste0("s", 1:big_k), yi = big_yi, vi = big_vi),
  ties = list(measure = "GEN", study = paste0("t", seq_along(ties_yi)), yi = ties_yi,
              vi = ties_vi)
)

# ---------------------------------------------------------------- regtest
regtest_rows <- list()
add_reg <- function(name, model, predictor, method, test, control_name) {
  d <- datasets[[name]]
  ctrl <- if (control_name == "tight") tight(method) else list()
  res <- rma(d$yi, d$vi, method = method, test = test, control = ctrl)
  ni <- d$ni
  r <- if (is.null(ni)) {
    regtest(res, model = model, predictor = predictor)
  } else {
    regtest(res, model = model, predictor = predictor, ni = ni)
  }
  regtest_rows[[length(regtest_rows) + 1]] <<- list(
    dataset = name, model = model, predictor = predictor, method = method, test = test,
    control = control_name, k = length(d$yi), zval = num(r$zval), pval = num(r$pval),
    df = num(r$dfs), est = num(r$est), ci_lb = num(r$ci.lb), ci_ub = num(r$ci.ub),
    tau2 = if (model == "rma") num(r$fit$tau2) else NA_real_
  )
}
predictors <- c("sei", "vi", "ni", "ninv", "sqrtni", "sqrtninv")
for (name in c("bcg", "egger2001", "pritz1997")) {
  for (predictor in predictors) {
    add_reg(name, "lm", predictor, "REML", "z", "tight")
    for (method in c("FE", "DL", "PM", "REML")) add_reg(name, "rma", predictor, method, "z", "tight")
    add_reg(name, "rma", predictor, "REML", "knha", "tight")
    add_reg(name, "rma", predictor, "REML", "z", "default")
  }
}
for (predictor in c("sei", "vi")) {
  add_reg("hackshaw1998", "lm", predictor, "REML", "z", "tight")
  add_reg("hackshaw1998", "rma", predictor, "REML", "z", "tight")
  add_reg("hackshaw1998", "rma", predictor, "DL", "knha", "tight")
}

# ---------------------------------------------------------------- ranktest
ranktest_rows <- list()
for (name in c("bcg", "egger2001", "pritz1997", "hackshaw1998", "big60", "ties")) {
  d <- datasets[[name]]
  for (exact in c(TRUE, FALSE)) {
    r <- suppressWarnings(ranktest(d$yi, d$vi, exact = exact))
    ranktest_rows[[length(ranktest_rows) + 1]] <- list(
      dataset = name, k = length(d$yi), exact = exact, tau = num(r$tau), pval = num(r$pval)
    )
  }
}

# ---------------------------------------------------------------- Harbord (by hand)
# Harbord, Egger & Sterne (2006): per table the efficient score Z = a - E(a) and its
# hypergeometric variance V under the null of no effect; regress Z / sqrt(V) on sqrt(V) by
# ordinary least squares and test the intercept (t with k - 2 df). Tables with V = 0 (no events
# or no non-events in both arms together) cannot enter.
harbord_rows <- list()
for (name in c("bcg", "egger2001", "zeros")) {
  d <- datasets[[name]]
  a <- as.numeric(d$events_treat); b <- as.numeric(d$n_treat) - a
  c <- as.numeric(d$events_ctrl); dd <- as.numeric(d$n_ctrl) - c
  n1 <- a + b; n2 <- c + dd; m1 <- a + c; m0 <- b + dd; N <- n1 + n2
  E <- n1 * m1 / N
  V <- n1 * n2 * m1 * m0 / (N^2 * (N - 1))
  keep <- V > 0
  Z <- (a - E)[keep]; V <- V[keep]
  y <- Z / sqrt(V); x <- sqrt(V)
  fit <- lm(y ~ x)
  cf <- coef(summary(fit))
  ci <- confint(fit, level = 0.95)
  harbord_rows[[length(harbord_rows) + 1]] <- list(
    dataset = name, k = length(a), k_used = sum(keep),
    excluded = d$study[!keep],
    intercept = cf[1, 1], se = cf[1, 2], tval = cf[1, 3], pval = cf[1, 4],
    df = fit$df.residual, ci_lb = ci[1, 1], ci_ub = ci[1, 2], slope = cf[2, 1],
    slope_se = cf[2, 2]
  )
}

# ---------------------------------------------------------------- trimfill
trimfill_rows <- list()
add_tf <- function(name, method, estimator, side, control_name, test = "z") {
  d <- datasets[[name]]
  ctrl <- if (control_name == "tight") tight(method) else list()
  res <- rma(d$yi, d$vi, method = method, test = test, control = ctrl)
  args <- list(res, estimator = estimator)
  if (!is.null(side)) args$side <- side
  if (length(ctrl) > 0) args$control <- ctrl
  if (test != "z") args$test <- test
  tf <- suppressWarnings(do.call(trimfill, args))
  trimfill_rows[[length(trimfill_rows) + 1]] <<- list(
    dataset = name, method = method, test = test, estimator = estimator,
    side_given = if (is.null(side)) NA_character_ else side, control = control_name,
    side = tf$side, k0 = num(tf$k0), se_k0 = num(tf$se.k0), p_k0 = num(tf$p.k0),
    k = tf$k, yi = c(tf$yi), vi = c(tf$vi), fill = tf$fill,
    estimate = num(tf$beta), se = num(tf$se), ci_lb = num(tf$ci.lb), ci_ub = num(tf$ci.ub),
    zval = num(tf$zval), pval = num(tf$pval), tau2 = num(tf$tau2), QE = num(tf$QE)
  )
}
for (name in c("bcg", "hackshaw1998", "hackshaw_mirrored", "egger2001", "pritz1997", "big60")) {
  for (method in c("FE", "DL", "PM", "REML")) {
    for (estimator in c("L0", "R0")) add_tf(name, method, estimator, NULL, "tight")
  }
}
for (side in c("left", "right")) {
  for (estimator in c("L0", "R0")) {
    add_tf("bcg", "REML", estimator, side, "tight")
    add_tf("hackshaw1998", "DL", estimator, side, "tight")
  }
}
add_tf("bcg", "REML", "L0", NULL, "default")
add_tf("hackshaw1998", "REML", "L0", NULL, "default")
add_tf("egger2001", "REML", "R0", NULL, "default")
add_tf("hackshaw1998", "REML", "L0", NULL, "tight", test = "knha")

reference <- list(
  metafor_version = as.character(packageVersion("metafor")),
  r_version = paste(R.version$major, R.version$minor, sep = "."),
  datasets = datasets,
  regtest = regtest_rows,
  ranktest = ranktest_rows,
  harbord = harbord_rows,
  trimfill = trimfill_rows
)
dir.create(dirname(out_path), showWarnings = FALSE, recursive = TRUE)
writeLines(toJSON(reference, auto_unbox = TRUE, digits = NA, na = "null", null = "null",
                  pretty = TRUE), out_path)
cat("wrote", out_path, "\n")

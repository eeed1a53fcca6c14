#!/usr/bin/env Rscript
# Writes tests/fixtures/metafor/multivariate.json: metafor's rma.mv answers for the multilevel,
# multivariate and shared-control (multi-arm) models the Python tests replay. Run from the
# repository root:  Rscript tests/metafor/make_reference_mv.R
# Needs the R packages metafor (3.8-1), metadat and jsonlite. The input data (and, for the
# multi-arm sets, the sampling covariance matrices built here by hand) go into the JSON, so the
# tests need neither R nor metadat.
#
# rma.mv optimises the variance components with nlminb. Each model is fitted twice:
#   "tight":   the best of several tightly controlled optimisers (see `candidates` below), so
#              that the reference is as close to the (restricted) ML estimate as metafor gets;
#   "default": metafor's default controls, to show how far its stopping point is from it.
#
# Data sets:
#   konstantopoulos2011 (metadat): three-level model, random = ~ 1 | district/school.
#   berkey1998 (metadat): bivariate model, V from v1i/v2i, random = ~ outcome | trial with
#     struct "UN", "CS" and "DIAG" (the example in metafor's dat.berkey1998 help page).
#   gleser2009: the multiple-treatment studies of Gleser & Olkin (2009), as typed in metafor's
#     analysis example (tests/testthat/test_analysis_example_gleser2009.r): RD, log OR, log RR
#     and SMD with the shared-control covariance, fixed-effects models ~ factor(trt) - 1.
#   threearm_md, threearm_or: small hand-made sets with two- and three-arm trials whose V is
#     built by hand below; random = ~ 1 | study/arm.
#   twoarm: two-arm trials only (rma.mv with ~ 1 | study must equal rma).

suppressPackageStartupMessages({
  library(metafor)
  library(metadat)
  library(jsonlite)
})

out_path <- file.path("tests", "fixtures", "metafor", "multivariate.json")

tight <- list(rel.tol = 1e-12, x.tol = 1e-12, iter.max = 10000, eval.max = 20000)
# The (restricted) likelihood is flat near its maximum, so each optimiser stops up to ~1e-7
# (relative) away from it. Every model is therefore fitted with several tightly controlled
# optimisers and the fit with the highest (restricted) log-likelihood is stored, with the
# control that produced it. nlminb reports "false convergence" on some models at 1e-12; a
# candidate that errors is skipped.
candidates <- list(
  tight,
  list(rel.tol = 1e-10, iter.max = 10000, eval.max = 20000),
  list(optimizer = "optim", optmethod = "BFGS", reltol = 1e-15, maxit = 10000),
  list(optimizer = "optim", optmethod = "Nelder-Mead", reltol = 1e-15, maxit = 10000),
  list(rel.tol = 1e-12, cholesky = FALSE, iter.max = 10000, eval.max = 20000),
  list(optimizer = "bobyqa", rhoend = 1e-12)
)

num <- function(x) if (is.null(x) || length(x) == 0) NA_real_ else unname(as.numeric(x))

fit_record <- function(res) {
  fs <- res$fit.stats
  list(
    method = res$method, test = res$test,
    coef_names = rownames(res$beta),
    beta = num(res$beta), se = num(res$se), zval = num(res$zval), pval = num(res$pval),
    ci_lb = num(res$ci.lb), ci_ub = num(res$ci.ub),
    vb = unname(as.matrix(res$vb)),
    ddf = num(res$ddf),
    sigma2 = if (res$withS) num(res$sigma2) else NULL,
    tau2 = if (res$withG) num(res$tau2) else NULL,
    rho = if (res$withG) num(res$rho) else NULL,
    G = if (res$withG) unname(as.matrix(res$G)) else NULL,
    g_levels = if (res$withG) as.character(res$g.levels.f[[1]]) else NULL,
    QE = num(res$QE), QEp = num(res$QEp), QEdf = res$k - res$p,
    QM = num(res$QM), QMp = num(res$QMp), QMdf = num(res$QMdf),
    ll_ml = num(fs["ll", "ML"]), ll_reml = num(fs["ll", "REML"]),
    dev = num(fs["dev", ifelse(res$method == "ML", "ML", "REML")]),
    aic = num(fs["AIC", ifelse(res$method == "ML", "ML", "REML")]),
    bic = num(fs["BIC", ifelse(res$method == "ML", "ML", "REML")]),
    aicc = num(fs["AICc", ifelse(res$method == "ML", "ML", "REML")]),
    parms = res$parms, k = res$k, p = res$p
  )
}

fit_tight <- function(f) {
  best <- NULL
  best_ll <- -Inf
  for (ctrl in candidates) {
    # An optimiser that wanders is cut off (uobyqa hung on the three-level ML fit: not used).
    setTimeLimit(elapsed = 20, transient = TRUE)
    res <- try(f(ctrl), silent = TRUE)
    setTimeLimit(elapsed = Inf)
    if (inherits(res, "try-error")) next
    ll <- res$fit.stats["ll", ifelse(res$method == "ML", "ML", "REML")]
    if (ll > best_ll) {
      best <- c(fit_record(res), list(control = ctrl))
      best_ll <- ll
    }
  }
  if (is.null(best)) stop("no optimiser converged")
  best
}

# metafor's default controls; NULL (with the error) where its default run stops with an error.
fit_default <- function(f) {
  res <- try(f(list()), silent = TRUE)
  if (inherits(res, "try-error")) return(list(error = trimws(as.character(res))))
  fit_record(res)
}

both <- function(f) list(tight = fit_tight(f), default = fit_default(f))

fits <- list()
data_out <- list()

# ------------------------------------------------------------------ konstantopoulos2011
kon <- dat.konstantopoulos2011
data_out$konstantopoulos2011 <- list(
  district = kon$district, school = kon$school, year = kon$year, yi = kon$yi, vi = kon$vi
)
for (method in c("REML", "ML")) {
  for (test in c("z", "t")) {
    fits[[paste("kon", "intercept", method, test, sep = "-")]] <- c(
      list(data = "konstantopoulos2011", model = "intercept", method = method, test = test),
      both(function(ctrl) rma.mv(yi, vi, random = ~ 1 | district/school, data = kon,
                                 method = method, test = test, control = ctrl)))
  }
  fits[[paste("kon", "year", method, "z", sep = "-")]] <- c(
    list(data = "konstantopoulos2011", model = "year", method = method, test = "z"),
    both(function(ctrl) rma.mv(yi, vi, mods = ~ I(year - 1990), random = ~ 1 | district/school,
                               data = kon, method = method, control = ctrl)))
}
# One variance component only: schools grouped by district.
fits[["kon-district-REML-z"]] <- c(
  list(data = "konstantopoulos2011", model = "district_only", method = "REML", test = "z"),
  both(function(ctrl) rma.mv(yi, vi, random = ~ 1 | district, data = kon, control = ctrl)))

# ------------------------------------------------------------------------ berkey1998
ber <- dat.berkey1998
V_ber <- bldiag(lapply(split(ber[, c("v1i", "v2i")], ber$trial), as.matrix))
data_out$berkey1998 <- list(
  trial = ber$trial, outcome = as.character(ber$outcome), year = ber$year,
  yi = ber$yi, v1i = ber$v1i, v2i = ber$v2i, V = unname(as.matrix(V_ber))
)
for (struct in c("UN", "CS", "DIAG")) {
  for (method in c("REML", "ML")) {
    for (test in c("z", "t")) {
      fits[[paste("ber", struct, method, test, sep = "-")]] <- c(
        list(data = "berkey1998", model = "outcome", struct = struct, method = method, test = test),
        both(function(ctrl) rma.mv(yi, V_ber, mods = ~ outcome - 1, random = ~ outcome | trial,
                                   struct = struct, data = ber, method = method, test = test,
                                   control = ctrl)))
    }
  }
}
fits[["ber-UN-REML-z-year"]] <- c(
  list(data = "berkey1998", model = "outcome_year", struct = "UN", method = "REML", test = "z"),
  both(function(ctrl) rma.mv(yi, V_ber, mods = ~ outcome + outcome:I(year - 1983) - 1,
                             random = ~ outcome | trial, struct = "UN", data = ber,
                             control = ctrl)))

# ------------------------------------------------------------------------- gleser2009
# Group 1 (ai/n1i) is the group every treatment of a study is compared with.
gb <- data.frame(study = c(1, 1, 2, 3, 3, 3), trt = c(1, 2, 1, 1, 2, 3),
                 ai = c(40, 40, 10, 150, 150, 150), n1i = c(1000, 1000, 200, 2000, 2000, 2000),
                 ci = c(100, 150, 15, 40, 80, 50), n2i = c(4000, 4000, 400, 1000, 1000, 1000))
gb$pci <- gb$ai / gb$n1i
shared_part <- list(
  RD = function(x) x$pci[1] * (1 - x$pci[1]) / x$n1i[1],
  OR = function(x) 1 / (x$n1i[1] * x$pci[1] * (1 - x$pci[1])),
  RR = function(x) (1 - x$pci[1]) / (x$n1i[1] * x$pci[1])
)
data_out$gleser2009_binary <- as.list(gb[, c("study", "trt", "ai", "n1i", "ci", "n2i")])
gleser_binary <- list()
for (measure in names(shared_part)) {
  d <- escalc(measure = measure, ai = ai, ci = ci, n1i = n1i, n2i = n2i, data = gb)
  calc_v <- function(x) {
    v <- matrix(shared_part[[measure]](x), nrow = nrow(x), ncol = nrow(x))
    diag(v) <- x$vi
    v
  }
  V <- bldiag(lapply(split(d, d$study), calc_v))
  res <- rma.mv(yi, V, mods = ~ factor(trt) - 1, data = d)
  gleser_binary[[measure]] <- list(yi = num(d$yi), vi = num(d$vi), V = unname(as.matrix(V)),
                                   fit = fit_record(res))
}

gs <- data.frame(study = c(1, 1, 2, 3, 4, 4), trt = c(1, 2, 1, 1, 1, 2),
                 m1i = c(7.87, 4.35, 9.32, 8.08, 7.44, 5.34),
                 m2i = c(-1.36, -1.36, 0.98, 1.17, 0.45, 0.45),
                 sdpi = c(4.2593, 4.2593, 2.8831, 3.1764, 2.9344, 2.9344),
                 n1i = c(25, 22, 38, 50, 30, 30), n2i = c(25, 25, 40, 50, 30, 30))
gs$Ni <- unlist(lapply(split(gs, gs$study), function(x) rep(sum(x$n1i) + x$n2i[1], each = nrow(x))))
gs$yi <- with(gs, (m1i - m2i) / sdpi)
gs$vi <- with(gs, 1 / n1i + 1 / n2i + yi^2 / (2 * Ni))
calc_v_smd <- function(x) {
  v <- matrix(1 / x$n2i[1] + outer(x$yi, x$yi, "*") / (2 * x$Ni[1]), nrow = nrow(x), ncol = nrow(x))
  diag(v) <- x$vi
  v
}
V_smd <- bldiag(lapply(split(gs, gs$study), calc_v_smd))
res_smd <- rma.mv(yi, V_smd, mods = ~ factor(trt) - 1, data = gs)
data_out$gleser2009_smd <- as.list(gs[, c("study", "trt", "m1i", "m2i", "sdpi", "n1i", "n2i")])
gleser_smd <- list(yi = num(gs$yi), vi = num(gs$vi), V = unname(as.matrix(V_smd)),
                   fit = fit_record(res_smd))

# ------------------------------------------------------- hand-made multi-arm data sets
# Mean differences: studies s2 and s4 have two treatment arms sharing one control arm.
md <- data.frame(
  study = c("s1", "s2", "s2", "s3", "s4", "s4", "s5", "s6"),
  arm = c("a", "a", "b", "a", "a", "b", "a", "a"),
  m_t = c(5.1, 4.2, 3.1, 6.0, 2.2, 3.9, 4.4, 5.8), sd_t = c(2.0, 1.8, 2.2, 2.5, 1.6, 1.9, 2.1, 2.4),
  n_t = c(40, 30, 28, 55, 20, 22, 35, 60),
  m_c = c(3.9, 3.0, 3.0, 4.1, 2.5, 2.5, 3.2, 3.9), sd_c = c(2.1, 1.9, 1.9, 2.4, 1.7, 1.7, 2.0, 2.2),
  n_c = c(42, 31, 31, 50, 21, 21, 33, 58)
)
md$yi <- md$m_t - md$m_c
md$vi <- md$sd_t^2 / md$n_t + md$sd_c^2 / md$n_c
V_md <- bldiag(lapply(split(md, factor(md$study, levels = unique(md$study))), function(x) {
  v <- matrix(x$sd_c[1]^2 / x$n_c[1], nrow = nrow(x), ncol = nrow(x))
  diag(v) <- x$vi
  v
}))
data_out$threearm_md <- as.list(md)

# Log odds ratios: studies t1 and t3 have three and two treatment arms sharing one control.
bo <- data.frame(
  study = c("t1", "t1", "t1", "t2", "t3", "t3", "t4", "t5"),
  arm = c("a", "b", "c", "a", "a", "b", "a", "a"),
  ai = c(12, 18, 9, 30, 7, 11, 21, 16), n1i = c(100, 110, 95, 200, 60, 64, 150, 120),
  ci = c(20, 20, 20, 41, 14, 14, 26, 25), n2i = c(105, 105, 105, 198, 61, 61, 149, 118)
)
bo <- escalc(measure = "OR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = bo)
V_or <- bldiag(lapply(split(bo, factor(bo$study, levels = unique(bo$study))), function(x) {
  v <- matrix(1 / x$ci[1] + 1 / (x$n2i[1] - x$ci[1]), nrow = nrow(x), ncol = nrow(x))
  diag(v) <- x$vi
  v
}))
data_out$threearm_or <- list(study = bo$study, arm = bo$arm, ai = bo$ai, n1i = bo$n1i,
                             ci = bo$ci, n2i = bo$n2i, yi = num(bo$yi), vi = num(bo$vi))

threearm <- list()
for (nm in c("md", "or")) {
  d <- if (nm == "md") md else bo
  V <- if (nm == "md") V_md else V_or
  for (method in c("REML", "ML")) {
    threearm[[paste(nm, method, sep = "-")]] <- c(
      list(data = paste0("threearm_", nm), method = method, V = unname(as.matrix(V))),
      both(function(ctrl) rma.mv(yi, V, random = ~ 1 | study/arm, data = d, method = method,
                                 control = ctrl)))
  }
  threearm[[paste(nm, "arm_outer", sep = "-")]] <- c(
    list(data = paste0("threearm_", nm), method = "REML", V = unname(as.matrix(V))),
    both(function(ctrl) rma.mv(yi, V, random = ~ 1 | study, data = d, control = ctrl)))
}

# ---------------------------------------------------------------- two-arm trials only
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
data_out$twoarm <- list(study = as.character(bcg$trial), yi = num(bcg$yi), vi = num(bcg$vi))
twoarm <- list(
  mv = fit_tight(function(ctrl) rma.mv(yi, vi, random = ~ 1 | trial, data = bcg, control = ctrl)),
  uni = {
    r <- rma(yi, vi, data = bcg, control = list(threshold = 1e-12, maxiter = 1000))
    list(beta = num(r$beta), se = num(r$se), tau2 = num(r$tau2), ll_reml = num(r$fit.stats["ll", "REML"]))
  }
)

out <- list(
  metafor_version = as.character(packageVersion("metafor")),
  r_version = R.version.string,
  tight_control = tight,
  data = data_out,
  fits = fits,
  gleser_binary = gleser_binary,
  gleser_smd = gleser_smd,
  threearm = threearm,
  twoarm = twoarm
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, null = "null", na = "null", pretty = TRUE),
           out_path)
cat("wrote", out_path, "\n")

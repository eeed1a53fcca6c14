#!/usr/bin/env Rscript
# Writes tests/fixtures/metafor/reference.json: metafor's answers for the data sets the Python
# tests replay, then runs every tests/metafor/make_reference_<topic>.R, each writing its own
# tests/fixtures/metafor/<topic>.json. Run from the repository root:
#   Rscript tests/metafor/make_reference.R
# Needs the R packages metafor, metadat and jsonlite (Debian: r-cran-metafor r-cran-metadat
# r-cran-jsonlite). The input data go into the JSON too, so the tests need neither R nor metadat.
#
# Iterative tau^2 estimators are run with tight controls (PM: uniroot tol 1e-12; REML: Fisher
# scoring threshold 1e-12) so that the reference is the estimator's value, not the stopping
# point of a loose iteration. metafor's default REML run is stored as well (rma_reml_default),
# so the tests can check that our Fisher scoring reproduces metafor's iterates.

suppressPackageStartupMessages({
  library(metafor)
  library(metadat)
  library(jsonlite)
})

out_path <- file.path("tests", "fixtures", "metafor", "reference.json")

pm_control <- list(tol = 1e-12)
reml_control <- list(threshold = 1e-12, maxiter = 1000)

control_for <- function(method) {
  if (method == "PM") return(pm_control)
  if (method == "REML") return(reml_control)
  list()
}

num <- function(x) if (is.null(x) || length(x) == 0) NA_real_ else unname(as.numeric(x))

# ---------------------------------------------------------------- input data (analysis order)
bcg <- dat.bcg
bcg_in <- list(
  study = as.character(bcg$author), year = bcg$year,
  events_treat = bcg$tpos, n_treat = bcg$tpos + bcg$tneg,
  events_ctrl = bcg$cpos, n_ctrl = bcg$cpos + bcg$cneg,
  ablat = bcg$ablat, alloc = as.character(bcg$alloc)
)
nor <- dat.normand1999
nor_in <- list(
  study = as.character(nor$source),
  mean_treat = nor$m1i, sd_treat = nor$sd1i, n_treat = nor$n1i,
  mean_ctrl = nor$m2i, sd_ctrl = nor$sd2i, n_ctrl = nor$n2i
)
pri <- dat.pritz1997
pri_in <- list(study = as.character(pri$authors), events = pri$xi, n = pri$ni)
hac <- dat.hackshaw1998
hac_in <- list(study = paste(hac$author, hac$year), yi = hac$yi, vi = hac$vi)

# Small hand-built 2x2 data with single-zero and double-zero tables, to pin down escalc's
# default zero-cell handling (add 1/2 to every cell of a table with a zero, to = "only0").
zero_in <- list(
  study = c("z1", "z2", "z3", "z4", "z5"),
  events_treat = c(0, 3, 0, 5, 2), n_treat = c(20, 25, 15, 30, 2),
  events_ctrl = c(4, 0, 0, 9, 1), n_ctrl = c(22, 24, 16, 31, 3)
)
# Single-arm proportions with x = 0 and x = n.
zero_prop_in <- list(study = c("p1", "p2", "p3", "p4"), events = c(0, 7, 12, 3), n = c(10, 7, 30, 9))

# Homogeneous yi/vi: Q < k - 1, so DL's raw tau^2 is negative and must be truncated at 0.
homog_in <- list(
  study = c("h1", "h2", "h3", "h4", "h5"),
  yi = c(0.10, 0.12, 0.09, 0.11, 0.105), vi = c(0.04, 0.05, 0.03, 0.06, 0.045)
)

es <- function(dataset, measure, ...) {
  switch(dataset,
    bcg = escalc(measure, ai = events_treat, n1i = n_treat, ci = events_ctrl, n2i = n_ctrl,
                 data = as.data.frame(bcg_in), ...),
    zero = escalc(measure, ai = events_treat, n1i = n_treat, ci = events_ctrl, n2i = n_ctrl,
                  data = as.data.frame(zero_in), ...),
    normand1999 = escalc(measure, m1i = mean_treat, sd1i = sd_treat, n1i = n_treat,
                         m2i = mean_ctrl, sd2i = sd_ctrl, n2i = n_ctrl,
                         data = as.data.frame(nor_in), ...),
    pritz1997 = escalc(measure, xi = events, ni = n, data = as.data.frame(pri_in), ...),
    zero_prop = escalc(measure, xi = events, ni = n, data = as.data.frame(zero_prop_in), ...),
    hackshaw1998 = escalc(yi = yi, vi = vi, data = as.data.frame(hac_in)),
    homog = escalc(yi = yi, vi = vi, data = as.data.frame(homog_in))
  )
}

fit_record <- function(res, dataset, measure, method, test) {
  pr <- predict(res)
  list(
    dataset = dataset, measure = measure, method = method, test = test,
    k = res$k, estimate = num(res$beta), se = num(res$se), zval = num(res$zval),
    pval = num(res$pval), ci_lb = num(res$ci.lb), ci_ub = num(res$ci.ub),
    tau2 = num(res$tau2), QE = num(res$QE), QEp = num(res$QEp), I2 = num(res$I2),
    H2 = num(res$H2), pi_lb = num(pr$pi.lb), pi_ub = num(pr$pi.ub),
    weights = num(weights(res))
  )
}

combos <- list(
  list(dataset = "bcg", measure = "RR"), list(dataset = "bcg", measure = "OR"),
  list(dataset = "bcg", measure = "RD"), list(dataset = "normand1999", measure = "MD"),
  list(dataset = "normand1999", measure = "SMD"), list(dataset = "pritz1997", measure = "PLO"),
  list(dataset = "pritz1997", measure = "PR"), list(dataset = "hackshaw1998", measure = "GEN")
)

escalc_out <- list()
rma_out <- list()
reml_default_out <- list()
for (cb in combos) {
  dat <- es(cb$dataset, cb$measure)
  escalc_out[[length(escalc_out) + 1]] <- list(
    dataset = cb$dataset, measure = cb$measure, yi = num(dat$yi), vi = num(dat$vi)
  )
  for (method in c("FE", "DL", "PM", "REML")) {
    for (test in c("z", "knha", "adhoc")) {
      res <- suppressWarnings(rma(yi, vi, data = dat, method = method, test = test,
                                  control = control_for(method)))
      rma_out[[length(rma_out) + 1]] <- fit_record(res, cb$dataset, cb$measure, method, test)
    }
  }
  res <- rma(yi, vi, data = dat, method = "REML")
  reml_default_out[[length(reml_default_out) + 1]] <- list(
    dataset = cb$dataset, measure = cb$measure, tau2 = num(res$tau2), estimate = num(res$beta),
    se = num(res$se)
  )
}

# ---------------------------------------------------------------- zero cells
zero_escalc <- list()
for (measure in c("RR", "OR", "RD")) {
  for (drop00 in c(FALSE, TRUE)) {
    dat <- es("zero", measure, drop00 = drop00)
    zero_escalc[[length(zero_escalc) + 1]] <- list(
      dataset = "zero", measure = measure, drop00 = drop00, yi = num(dat$yi), vi = num(dat$vi)
    )
  }
}
for (measure in c("PLO", "PR")) {
  dat <- es("zero_prop", measure)
  zero_escalc[[length(zero_escalc) + 1]] <- list(
    dataset = "zero_prop", measure = measure, drop00 = FALSE, yi = num(dat$yi), vi = num(dat$vi)
  )
}

# ---------------------------------------------------------------- Mantel-Haenszel
mh_out <- list()
for (dataset in c("bcg", "zero")) {
  d <- if (dataset == "bcg") bcg_in else zero_in
  for (measure in c("RR", "OR")) {
    # rma.mh drops double-zero tables from the heterogeneity test (its drop00 default) and
    # warns about the resulting NA yi/vi; that is expected here.
    res <- suppressWarnings(rma.mh(ai = d$events_treat, n1i = d$n_treat, ci = d$events_ctrl,
                                   n2i = d$n_ctrl, measure = measure))
    mh_out[[length(mh_out) + 1]] <- list(
      dataset = dataset, measure = measure, k = res$k, k_yi = res$k.yi,
      estimate = num(res$beta), se = num(res$se),
      zval = num(res$zval), pval = num(res$pval), ci_lb = num(res$ci.lb), ci_ub = num(res$ci.ub),
      QE = num(res$QE), QEp = num(res$QEp), I2 = num(res$I2), H2 = num(res$H2),
      weights = num(weights(res))
    )
  }
}

# ---------------------------------------------------------------- leave-one-out and cumulative
bcg_rr <- es("bcg", "RR")
year_order <- order(bcg_in$year)
l1o_out <- list()
cumul_out <- list()
for (method in c("FE", "DL", "REML")) {
  for (test in c("z", "knha")) {
    res <- suppressWarnings(rma(yi, vi, data = bcg_rr, method = method, test = test,
                                control = control_for(method)))
    l1 <- leave1out(res)
    l1o_out[[length(l1o_out) + 1]] <- list(
      dataset = "bcg", measure = "RR", method = method, test = test,
      estimate = num(l1$estimate), se = num(l1$se), zval = num(l1[[3]]), pval = num(l1$pval),
      ci_lb = num(l1$ci.lb), ci_ub = num(l1$ci.ub), Q = num(l1$Q), Qp = num(l1$Qp),
      tau2 = if (is.null(l1$tau2)) NULL else num(l1$tau2), I2 = num(l1$I2), H2 = num(l1$H2)
    )
    cu <- suppressWarnings(cumul(res, order = bcg_in$year))
    cumul_out[[length(cumul_out) + 1]] <- list(
      dataset = "bcg", measure = "RR", method = method, test = test, order = year_order,
      estimate = num(cu$estimate), se = num(cu$se), zval = num(cu[[3]]), pval = num(cu$pval),
      ci_lb = num(cu$ci.lb), ci_ub = num(cu$ci.ub), Q = num(cu$Q), Qp = num(cu$Qp),
      tau2 = if (is.null(cu$tau2)) NULL else num(cu$tau2), I2 = num(cu$I2), H2 = num(cu$H2)
    )
  }
}

# ---------------------------------------------------------------- Egger's regression test
regtest_out <- list()
for (cb in list(list(dataset = "bcg", measure = "RR"),
                list(dataset = "hackshaw1998", measure = "GEN"),
                list(dataset = "pritz1997", measure = "PLO"))) {
  dat <- es(cb$dataset, cb$measure)
  for (method in c("FE", "DL", "REML")) {
    res <- rma(yi, vi, data = dat, method = method, control = control_for(method))
    for (model in c("lm", "rma")) {
      rt <- regtest(res, model = model)
      regtest_out[[length(regtest_out) + 1]] <- list(
        dataset = cb$dataset, measure = cb$measure, method = method, model = model,
        k = res$k, zval = num(rt$zval), pval = num(rt$pval), df = num(rt$ddf),
        est = num(rt$est), ci_lb = num(rt$ci.lb), ci_ub = num(rt$ci.ub)
      )
    }
  }
}

# ---------------------------------------------------------------- subgroups and meta-regression
subgroup_out <- list()
metareg_out <- list()
for (method in c("FE", "DL", "PM", "REML")) {
  for (test in c("z", "knha")) {
    ctl <- control_for(method)
    mm <- suppressWarnings(rma(yi, vi, mods = ~ factor(alloc), data = bcg_rr, method = method,
                               test = test, control = ctl))
    levels_ <- sort(unique(bcg_in$alloc))
    groups <- lapply(levels_, function(g) {
      r <- suppressWarnings(rma(yi, vi, data = bcg_rr, subset = alloc == g, method = method,
                                test = test, control = ctl))
      list(level = g, k = r$k, estimate = num(r$beta), se = num(r$se), ci_lb = num(r$ci.lb),
           ci_ub = num(r$ci.ub), tau2 = num(r$tau2), QE = num(r$QE))
    })
    est <- sapply(groups, function(g) g$estimate)
    sei <- sapply(groups, function(g) g$se)
    qb <- rma(est, sei = sei, method = "FE")
    subgroup_out[[length(subgroup_out) + 1]] <- list(
      dataset = "bcg", measure = "RR", moderator = "alloc", method = method, test = test,
      levels = levels_, groups = groups,
      Qb = num(qb$QE), Qb_df = qb$k - 1, Qb_p = num(qb$QEp),
      QM = num(mm$QM), QM_df = num(mm$QMdf), QMp = num(mm$QMp), tau2 = num(mm$tau2),
      QE = num(mm$QE), QEp = num(mm$QEp), beta = num(mm$beta), se = num(mm$se)
    )
    mr <- suppressWarnings(rma(yi, vi, mods = ~ ablat, data = bcg_rr, method = method,
                               test = test, control = ctl))
    metareg_out[[length(metareg_out) + 1]] <- list(
      dataset = "bcg", measure = "RR", moderator = "ablat", method = method, test = test,
      k = mr$k, beta = num(mr$beta), se = num(mr$se), zval = num(mr$zval), pval = num(mr$pval),
      ci_lb = num(mr$ci.lb), ci_ub = num(mr$ci.ub), df = num(mr$ddf),
      QM = num(mr$QM), QM_df = num(mr$QMdf), QMp = num(mr$QMp),
      QE = num(mr$QE), QEp = num(mr$QEp), tau2 = num(mr$tau2), I2 = num(mr$I2),
      H2 = num(mr$H2), R2 = num(mr$R2)
    )
  }
}

# ---------------------------------------------------------------- traps
homog <- lapply(c("DL", "REML", "PM"), function(method) {
  res <- rma(yi, vi, data = es("homog", "GEN"), method = method, control = control_for(method))
  fit_record(res, "homog", "GEN", method, "z")
})
k1 <- lapply(c("FE", "DL", "REML"), function(method) {
  res <- rma(yi = 0.3, vi = 0.04, method = method)
  list(method = method, estimate = num(res$beta), se = num(res$se), ci_lb = num(res$ci.lb),
       ci_ub = num(res$ci.ub), pval = num(res$pval))
})

# A random k = 10 data set on which metafor's default Fisher scoring (step 1, 100 iterations)
# stops with "did not converge": the first seed from 1 upward with that outcome.
reml_ll <- function(t2, yi, vi) {
  w <- 1 / (vi + t2)
  mu <- sum(w * yi) / sum(w)
  -0.5 * sum(log(vi + t2)) - 0.5 * log(sum(w)) - 0.5 * sum(w * (yi - mu)^2)
}
nonconv <- NULL
for (seed in 1:100000) {
  set.seed(seed)
  vi <- exp(rnorm(10, -2, 2.5))
  yi <- rnorm(10, 0, sqrt(vi + rexp(1, 1)))
  r <- try(rma(yi, vi, method = "REML"), silent = TRUE)
  if (inherits(r, "try-error") && grepl("did not converge", r)) {
    slow <- rma(yi, vi, method = "REML", control = list(maxiter = 1000, stepadj = 0.5,
                                                         threshold = 1e-12))
    opt <- optimize(reml_ll, c(0, 100), yi = yi, vi = vi, maximum = TRUE, tol = 1e-12)
    nonconv <- list(
      seed = seed, yi = yi, vi = vi, error = trimws(as.character(r)),
      tau2_stepadj = num(slow$tau2), estimate_stepadj = num(slow$beta),
      se_stepadj = num(slow$se), tau2_optimize = opt$maximum
    )
    break
  }
}

reference <- list(
  generated_by = "tests/metafor/make_reference.R",
  r_version = R.version.string,
  metafor_version = as.character(packageVersion("metafor")),
  metadat_version = as.character(packageVersion("metadat")),
  controls = list(PM = pm_control, REML = reml_control),
  datasets = list(bcg = bcg_in, normand1999 = nor_in, pritz1997 = pri_in,
                  hackshaw1998 = hac_in, zero = zero_in, zero_prop = zero_prop_in,
                  homog = homog_in),
  escalc = escalc_out, rma = rma_out, rma_reml_default = reml_default_out,
  zero_escalc = zero_escalc, rma_mh = mh_out, leave1out = l1o_out, cumul = cumul_out,
  regtest = regtest_out, subgroup = subgroup_out, metareg = metareg_out,
  homogeneous = homog, k1 = k1, reml_nonconvergence = nonconv
)

dir.create(dirname(out_path), recursive = TRUE, showWarnings = FALSE)
writeLines(toJSON(reference, auto_unbox = TRUE, digits = NA, na = "null", null = "null",
                  pretty = TRUE), out_path)
cat("wrote", out_path, "\n")

# ---------------------------------------------------------------- the other reference sets
for (script in sort(Sys.glob(file.path("tests", "metafor", "make_reference_*.R")))) {
  cat("running", script, "\n")
  source(script, local = new.env())
}

#!/usr/bin/env Rscript
# Writes tests/fixtures/metafor/measures.json: metafor's escalc for the effect measures IRR, IRD,
# ROM, SMDH, SMCC, SMCR, PFT, ZCOR and COR (plus SMD beside SMDH), one REML pool per measure,
# and rma() with a single study for every method and test. Run from the repository root:
#   Rscript tests/metafor/make_reference_measures.R
# Needs metafor, metadat and jsonlite (Debian: r-cran-metafor r-cran-metadat r-cran-jsonlite).
# The input data go into the JSON too, so the tests need neither R nor metadat.
#
# Data: dat.hart1999 (events and person-years, IRR/IRD), dat.curtis1998 (ROM), dat.normand1999
# (SMD, SMDH), dat.pritz1997 (PFT), dat.molloy2014 (COR, ZCOR), and small hand-made sets for
# pre/post designs (SMCC, SMCR) and for zero counts under every `to` rule and drop00.
# REML pools use a converged Fisher scoring (threshold 1e-12); metafor's default stopping rule
# (threshold 1e-5) is stored beside it as reml_default.

suppressPackageStartupMessages({
  library(metafor)
  library(metadat)
  library(jsonlite)
})

out_path <- file.path("tests", "fixtures", "metafor", "measures.json")
reml_control <- list(threshold = 1e-12, maxiter = 1000)
num <- function(x) if (is.null(x) || length(x) == 0) NA_real_ else unname(as.numeric(x))

# ---------------------------------------------------------------- input data
har <- dat.hart1999
hart <- list(
  study = as.character(har$study),
  events_treat = har$x1i, time_treat = har$t1i,
  events_ctrl = har$x2i, time_ctrl = har$t2i
)
cur <- dat.curtis1998
curtis <- list(
  study = paste0("curtis", cur$id),
  mean_treat = cur$m1i, sd_treat = cur$sd1i, n_treat = cur$n1i,
  mean_ctrl = cur$m2i, sd_ctrl = cur$sd2i, n_ctrl = cur$n2i
)
nor <- dat.normand1999
normand <- list(
  study = as.character(nor$source),
  mean_treat = nor$m1i, sd_treat = nor$sd1i, n_treat = nor$n1i,
  mean_ctrl = nor$m2i, sd_ctrl = nor$sd2i, n_ctrl = nor$n2i
)
pri <- dat.pritz1997
pritz <- list(study = as.character(pri$authors), events = pri$xi, n = pri$ni)
mol <- dat.molloy2014
molloy <- list(study = paste(mol$authors, mol$year), r = mol$ri, n = mol$ni)
# Hand-made pre/post set: means and SDs at both time points, sample size, pre/post correlation.
prepost <- list(
  study = c("pp1", "pp2", "pp3", "pp4", "pp5"),
  mean_pre = c(30.6, 23.5, 0.5, 53.4, 35.6), mean_post = c(38.5, 26.8, 0.7, 75.9, 36.0),
  sd_pre = c(15.0, 3.1, 0.1, 14.5, 4.7), sd_post = c(11.6, 4.1, 0.1, 4.4, 4.6),
  n = c(20, 50, 9, 10, 14), r_pre_post = c(0.47, 0.64, 0.77, 0.89, 0.44)
)
# Hand-made incidence data with zero counts (one arm, both arms) for the zero rules.
zero_ir <- list(
  study = c("r1", "r2", "r3", "r4"),
  events_treat = c(0, 4, 0, 7), time_treat = c(120, 310.5, 80, 400),
  events_ctrl = c(3, 0, 0, 12), time_ctrl = c(115, 290, 95, 410)
)
# Hand-made proportions including 0 and n events (PFT needs no correction).
zero_prop <- list(study = c("p1", "p2", "p3", "p4"), events = c(0, 7, 12, 3), n = c(10, 7, 30, 9))

datasets <- list(
  hart1999 = hart, curtis1998 = curtis, normand1999 = normand, pritz1997 = pritz,
  molloy2014 = molloy, prepost = prepost, zero_ir = zero_ir, zero_prop = zero_prop
)

es_call <- function(measure, d, ...) {
  if (measure %in% c("IRR", "IRD")) {
    return(escalc(measure, x1i = d$events_treat, t1i = d$time_treat,
                  x2i = d$events_ctrl, t2i = d$time_ctrl, ...))
  }
  if (measure %in% c("ROM", "SMD", "SMDH")) {
    return(escalc(measure, m1i = d$mean_treat, sd1i = d$sd_treat, n1i = d$n_treat,
                  m2i = d$mean_ctrl, sd2i = d$sd_ctrl, n2i = d$n_ctrl, ...))
  }
  if (measure == "SMCC") {
    return(escalc(measure, m1i = d$mean_post, m2i = d$mean_pre, sd1i = d$sd_post,
                  sd2i = d$sd_pre, ni = d$n, ri = d$r_pre_post, ...))
  }
  if (measure == "SMCR") {
    # standardised by the pre-test (raw-score) SD, which escalc takes as sd1i
    return(escalc(measure, m1i = d$mean_post, m2i = d$mean_pre, sd1i = d$sd_pre,
                  ni = d$n, ri = d$r_pre_post, ...))
  }
  if (measure == "PFT") return(escalc(measure, xi = d$events, ni = d$n, ...))
  if (measure %in% c("ZCOR", "COR")) return(escalc(measure, ri = d$r, ni = d$n, ...))
  stop(measure)
}

cases <- list(
  list(dataset = "hart1999", measure = "IRR"),
  list(dataset = "hart1999", measure = "IRD"),
  list(dataset = "curtis1998", measure = "ROM"),
  list(dataset = "normand1999", measure = "SMDH"),
  list(dataset = "normand1999", measure = "SMD"),
  list(dataset = "prepost", measure = "SMCC"),
  list(dataset = "prepost", measure = "SMCR"),
  list(dataset = "pritz1997", measure = "PFT"),
  list(dataset = "zero_prop", measure = "PFT"),
  list(dataset = "molloy2014", measure = "ZCOR"),
  list(dataset = "molloy2014", measure = "COR")
)
# zero rules for the incidence measures
for (m in c("IRR", "IRD")) {
  for (to in c("only0", "all", "if0all", "none")) {
    cases[[length(cases) + 1]] <- list(dataset = "zero_ir", measure = m, to = to, add = 0.5)
  }
  cases[[length(cases) + 1]] <- list(dataset = "zero_ir", measure = m, to = "all", add = 1)
  cases[[length(cases) + 1]] <- list(dataset = "zero_ir", measure = m, to = "only0",
                                     add = 0.5, drop00 = TRUE)
}
cases[[length(cases) + 1]] <- list(dataset = "zero_prop", measure = "PFT", to = "all", add = 0.5)

escalc_out <- lapply(cases, function(cs) {
  d <- datasets[[cs$dataset]]
  args <- list()
  if (!is.null(cs$to)) args$to <- cs$to
  if (!is.null(cs$add)) args$add <- cs$add
  if (!is.null(cs$drop00)) args$drop00 <- cs$drop00
  es <- suppressWarnings(do.call(es_call, c(list(cs$measure, d), args)))
  c(cs, list(yi = num(es$yi), vi = num(es$vi)))
})

pool_cases <- Filter(function(cs) is.null(cs$to) && cs$dataset != "zero_prop", cases)
rma_out <- lapply(pool_cases, function(cs) {
  es <- es_call(cs$measure, datasets[[cs$dataset]])
  fit <- rma(yi, vi, data = es, method = "REML", control = reml_control)
  dflt <- rma(yi, vi, data = es, method = "REML")
  pr <- predict(fit)
  list(
    dataset = cs$dataset, measure = cs$measure, method = "REML", test = "z", k = fit$k,
    estimate = num(fit$b), se = num(fit$se), zval = num(fit$zval), pval = num(fit$pval),
    ci_lb = num(fit$ci.lb), ci_ub = num(fit$ci.ub), QE = num(fit$QE), QEp = num(fit$QEp),
    tau2 = num(fit$tau2), I2 = num(fit$I2), H2 = num(fit$H2),
    pi_lb = num(pr$pi.lb), pi_ub = num(pr$pi.ub),
    reml_default = list(tau2 = num(dflt$tau2), estimate = num(dflt$b), se = num(dflt$se))
  )
})

# PFT back-transformation with the harmonic mean of the sample sizes (transf.ipft.hm)
pft <- escalc("PFT", xi = pritz$events, ni = pritz$n)
pft_fit <- rma(yi, vi, data = pft, method = "REML", control = reml_control)
pft_pred <- predict(pft_fit, transf = transf.ipft.hm, targs = list(ni = pritz$n))
ipft <- list(
  dataset = "pritz1997",
  yi = num(pft$yi), back = num(transf.ipft.hm(pft$yi, targs = list(ni = pritz$n))),
  pred = num(pft_pred$pred), ci_lb = num(pft_pred$ci.lb), ci_ub = num(pft_pred$ci.ub)
)

# k = 1: rma(yi = 0.3, vi = 0.04) for every method and test
single <- list()
for (method in c("FE", "DL", "PM", "REML")) {
  for (test in c("z", "knha", "adhoc")) {
    fit <- suppressWarnings(rma(yi = 0.3, vi = 0.04, method = method, test = test))
    pr <- predict(fit)
    single[[length(single) + 1]] <- list(
      method = method, test = test, test_used = fit$test, k = fit$k,
      estimate = num(fit$b), se = num(fit$se), zval = num(fit$zval), pval = num(fit$pval),
      ci_lb = num(fit$ci.lb), ci_ub = num(fit$ci.ub), QE = num(fit$QE), QEp = num(fit$QEp),
      QE_df = fit$k - fit$p, tau2 = num(fit$tau2), I2 = num(fit$I2), H2 = num(fit$H2),
      pi_lb = num(pr$pi.lb), pi_ub = num(pr$pi.ub)
    )
  }
}

out <- list(
  metafor_version = as.character(packageVersion("metafor")),
  controls = list(reml = reml_control),
  datasets = datasets,
  escalc = escalc_out,
  rma = rma_out,
  ipft_hm = ipft,
  single = list(yi = 0.3, vi = 0.04, fits = single)
)
dir.create(dirname(out_path), showWarnings = FALSE, recursive = TRUE)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, na = "null", pretty = TRUE), out_path)
cat("wrote", out_path, "\n")

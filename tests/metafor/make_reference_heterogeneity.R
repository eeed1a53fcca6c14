#!/usr/bin/env Rscript
# Writes tests/fixtures/metafor/heterogeneity.json: metafor's Q-profile confidence intervals for
# tau^2 / tau / I^2 / H^2 (confint), prediction intervals by pi.type (predict), influence
# diagnostics (influence) and Baujat plot coordinates (baujat) for the data sets the Python
# tests replay. Run from the repository root:
#   Rscript tests/metafor/make_reference_heterogeneity.R
# Needs the R packages metafor, metadat and jsonlite (Debian: r-cran-metafor r-cran-metadat
# r-cran-jsonlite). The effect sizes (metafor's escalc output) go into the JSON, so the tests need
# neither R nor metadat.
#
# Controls: REML Fisher scoring threshold 1e-12 (maxiter 1000), PM uniroot tol 1e-12, and the
# Q-profile root search of confint with uniroot tol 1e-12, so the reference holds the roots
# themselves, not the stopping points of loose iterations.

suppressPackageStartupMessages({
  library(metafor)
  library(metadat)
  library(jsonlite)
})

out_path <- file.path("tests", "fixtures", "metafor", "heterogeneity.json")

fit_control <- function(method) {
  if (method == "PM") return(list(tol = 1e-12))
  if (method == "REML") return(list(threshold = 1e-12, maxiter = 1000))
  list()
}
ci_control <- list(tol = 1e-12)

num <- function(x) if (is.null(x) || length(x) == 0) NA_real_ else unname(as.numeric(x))

# ---------------------------------------------------------------- data (metafor's yi, vi)
bcg <- escalc("RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
nor <- escalc("SMD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i,
              data = dat.normand1999)
hac <- dat.hackshaw1998
data_sets <- list(
  bcg = list(study = as.character(bcg$author), yi = num(bcg$yi), vi = num(bcg$vi),
             ablat = bcg$ablat),
  normand1999 = list(study = as.character(nor$source), yi = num(nor$yi), vi = num(nor$vi)),
  hackshaw1998 = list(study = paste(hac$author, hac$year), yi = hac$yi, vi = hac$vi),
  # Homogeneous: Q(0) falls below the lower chi-square quantile, so the Q-profile CI is empty.
  homog = list(study = c("h1", "h2", "h3", "h4", "h5"),
               yi = c(0.10, 0.12, 0.09, 0.11, 0.105), vi = c(0.04, 0.05, 0.03, 0.06, 0.045)),
  # tau^2 = 0 but Q(0) lies between the quantiles: lower bound truncated at 0, upper bound > 0.
  lowhet = list(study = c("l1", "l2", "l3", "l4", "l5", "l6"),
                yi = c(0.05, 0.30, -0.10, 0.20, 0.12, 0.02),
                vi = c(0.04, 0.05, 0.03, 0.06, 0.045, 0.05)),
  # Small sets for the prediction interval's t(k - 2) form.
  k2 = list(study = c("a", "b"), yi = c(0.2, 0.8), vi = c(0.02, 0.03)),
  k3 = list(study = c("a", "b", "c"), yi = c(0.2, 0.8, -0.1), vi = c(0.02, 0.03, 0.025))
)

fit <- function(name, method, test = "z", mods = NULL) {
  d <- data_sets[[name]]
  if (is.null(mods)) {
    suppressWarnings(rma(d$yi, d$vi, method = method, test = test,
                         control = fit_control(method)))
  } else {
    dat <- data.frame(yi = d$yi, vi = d$vi, mod = d[[mods]])
    names(dat)[3] <- mods
    suppressWarnings(rma(yi, vi, mods = as.formula(paste("~", mods)), data = dat,
                         method = method, test = test, control = fit_control(method)))
  }
}

# ---------------------------------------------------------------- confint (Q-profile)
confint_record <- function(name, method, mods = NULL, level = 95, extra = list()) {
  res <- fit(name, method, mods = mods)
  ci <- confint(res, level = level, control = c(ci_control, extra))
  r <- ci$random
  list(
    dataset = name, method = method, mods = if (is.null(mods)) NA else mods,
    level = level / 100, tau2_max = if (is.null(extra$tau2.max)) NA else extra$tau2.max,
    tau2 = num(r["tau^2", ]), tau = num(r["tau", ]), I2 = num(r["I^2(%)", ]),
    H2 = num(r["H^2", ]), lb_sign = ci$lb.sign, ub_sign = ci$ub.sign, ci_null = ci$ci.null,
    tau2_min = ci$tau2.min
  )
}
confint_out <- list()
for (name in c("bcg", "normand1999", "hackshaw1998", "homog", "lowhet")) {
  for (method in c("DL", "PM", "REML")) {
    confint_out[[length(confint_out) + 1]] <- confint_record(name, method)
  }
}
for (method in c("DL", "PM", "REML")) {
  confint_out[[length(confint_out) + 1]] <- confint_record("bcg", method, mods = "ablat")
}
confint_out[[length(confint_out) + 1]] <- confint_record("bcg", "REML", level = 90)
# An upper bound beyond the searched interval is reported as "> tau2.max".
confint_out[[length(confint_out) + 1]] <- confint_record("bcg", "REML",
                                                         extra = list(tau2.max = 0.1))
# confint has no interval for a model without a random-effects component.
fe_error <- tryCatch({
  confint(fit("bcg", "FE"))
  NA
}, error = function(e) conditionMessage(e))

# ---------------------------------------------------------------- prediction intervals
pi_out <- list()
for (name in c("bcg", "normand1999", "hackshaw1998", "k2", "k3")) {
  for (method in c("DL", "REML")) {
    for (test in c("z", "knha")) {
      res <- fit(name, method, test)
      for (pi_type in c("default", "riley", "t", "simple")) {
        pr <- predict(res, pi.type = pi_type)
        pi_out[[length(pi_out) + 1]] <- list(
          dataset = name, method = method, test = test, pi_type = pi_type, k = res$k,
          pred = num(pr$pred), se = num(pr$se), pi_lb = num(pr$pi.lb), pi_ub = num(pr$pi.ub),
          tau2 = num(res$tau2)
        )
      }
    }
  }
}

# ---------------------------------------------------------------- influence and baujat
influence_out <- list()
baujat_out <- list()
infl_cases <- list(
  list(name = "bcg", method = "FE", test = "z"), list(name = "bcg", method = "DL", test = "z"),
  list(name = "bcg", method = "REML", test = "z"),
  list(name = "bcg", method = "REML", test = "knha"),
  list(name = "bcg", method = "PM", test = "adhoc"),
  list(name = "normand1999", method = "DL", test = "z"),
  list(name = "hackshaw1998", method = "REML", test = "z"),
  list(name = "homog", method = "REML", test = "z"),
  list(name = "bcg", method = "REML", test = "z", mods = "ablat"),
  list(name = "bcg", method = "DL", test = "knha", mods = "ablat")
)
for (cs in infl_cases) {
  res <- fit(cs$name, cs$method, cs$test, mods = cs$mods)
  inf <- influence(res)
  dfb <- unclass(inf$dfbs)
  dfbs <- lapply(dfb[setdiff(names(dfb), c("slab", "digits"))], num)
  influence_out[[length(influence_out) + 1]] <- list(
    dataset = cs$name, method = cs$method, test = cs$test,
    mods = if (is.null(cs$mods)) NA else cs$mods,
    rstudent = num(inf$inf$rstudent), dffits = num(inf$inf$dffits),
    cook_d = num(inf$inf$cook.d), cov_r = num(inf$inf$cov.r),
    tau2_del = num(inf$inf$tau2.del), QE_del = num(inf$inf$QE.del), hat = num(inf$inf$hat),
    weight = num(inf$inf$weight), dfbs = dfbs, dfbs_names = names(dfbs),
    inf = inf$inf$inf == "*"
  )
  pdf(NULL)
  b <- baujat(res)
  dev.off()
  baujat_out[[length(baujat_out) + 1]] <- list(
    dataset = cs$name, method = cs$method, test = cs$test,
    mods = if (is.null(cs$mods)) NA else cs$mods, x = num(b$x), y = num(b$y)
  )
}

reference <- list(
  generated_by = "tests/metafor/make_reference_heterogeneity.R",
  r_version = R.version.string,
  metafor_version = as.character(packageVersion("metafor")),
  metadat_version = as.character(packageVersion("metadat")),
  controls = list(PM = fit_control("PM"), REML = fit_control("REML"), confint = ci_control),
  datasets = data_sets,
  confint = confint_out, confint_fe_error = fe_error,
  predict = pi_out, influence = influence_out, baujat = baujat_out
)

dir.create(dirname(out_path), recursive = TRUE, showWarnings = FALSE)
writeLines(toJSON(reference, auto_unbox = TRUE, digits = NA, na = "null", null = "null",
                  pretty = TRUE), out_path)
cat("wrote", out_path, "\n")

#!/usr/bin/env Rscript
# Writes tests/fixtures/metafor/batch.json: metafor's rma() fitted to every group of two data
# sets, the reference for evidence.meta.pool_many (many pools at once). Run from the repository
# root:  Rscript tests/metafor/make_reference_batch.R
# Needs the R packages metafor, metadat and jsonlite (Debian: r-cran-metafor r-cran-metadat
# r-cran-jsonlite). The per-study yi, vi and group go into the JSON, so the tests need neither R
# nor metadat.
#
# Groups: dat.konstantopoulos2011 by district (11 groups of 3 to 11 studies) and dat.bcg (log
# risk ratios from escalc) by treatment allocation (groups of 2, 4 and 7 studies). Iterative
# estimators use tight controls (PM: uniroot tol 1e-12; REML: threshold 1e-12); metafor's default
# REML stopping rule (threshold 1e-5) is stored as well under "reml_default".

suppressPackageStartupMessages({
  library(metafor)
  library(metadat)
  library(jsonlite)
})

out_path <- file.path("tests", "fixtures", "metafor", "batch.json")

control_for <- function(method) {
  if (method == "PM") return(list(tol = 1e-12))
  if (method == "REML") return(list(threshold = 1e-12, maxiter = 1000))
  list()
}

num <- function(x) if (is.null(x) || length(x) == 0) NA_real_ else unname(as.numeric(x))

kon <- dat.konstantopoulos2011
bcg <- escalc("RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
datasets <- list(
  konstantopoulos2011 = list(
    group = as.character(kon$district), yi = as.numeric(kon$yi), vi = as.numeric(kon$vi)
  ),
  bcg_by_alloc = list(
    group = as.character(bcg$alloc), yi = as.numeric(bcg$yi), vi = as.numeric(bcg$vi)
  )
)

fit_groups <- function(name, d, method, test, control) {
  rows <- list()
  for (g in sort(unique(d$group))) {
    sel <- d$group == g
    fit <- rma(d$yi[sel], d$vi[sel], method = method, test = test, control = control)
    pred <- predict(fit)
    rows[[length(rows) + 1]] <- list(
      dataset = name, method = method, test = test, group = g, k = fit$k,
      estimate = num(fit$beta), se = num(fit$se), ci_lb = num(fit$ci.lb), ci_ub = num(fit$ci.ub),
      pval = num(fit$pval), tau2 = num(fit$tau2), QE = num(fit$QE), QEp = num(fit$QEp),
      I2 = num(fit$I2), H2 = num(fit$H2),
      pi_lb = if (method == "FE") NA_real_ else num(pred$pi.lb),
      pi_ub = if (method == "FE") NA_real_ else num(pred$pi.ub)
    )
  }
  rows
}

pools <- list()
for (name in names(datasets)) {
  for (method in c("FE", "DL", "PM", "REML")) {
    for (test in c("z", "knha")) {
      pools <- c(pools, fit_groups(name, datasets[[name]], method, test, control_for(method)))
    }
  }
}
reml_default <- list()
for (name in names(datasets)) {
  reml_default <- c(reml_default, fit_groups(name, datasets[[name]], "REML", "z", list()))
}

out <- list(
  generated_by = "tests/metafor/make_reference_batch.R",
  r_version = R.version.string,
  metafor_version = as.character(packageVersion("metafor")),
  metadat_version = as.character(packageVersion("metadat")),
  controls = list(PM = list(tol = 1e-12), REML = list(threshold = 1e-12, maxiter = 1000)),
  datasets = datasets,
  pools = pools,
  reml_default = reml_default
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, na = "null", pretty = TRUE), out_path)
cat("wrote", out_path, "\n")

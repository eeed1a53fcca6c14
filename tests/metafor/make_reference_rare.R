#!/usr/bin/env Rscript
# Writes tests/fixtures/metafor/rare_events.json: metafor's answers for the rare-event methods
# (Mantel-Haenszel risk difference, Peto's odds ratio, escalc "PETO", and the binomial-normal
# GLMMs of rma.glmm). Run from the repository root:
#   Rscript tests/metafor/make_reference_rare.R
# Needs the R packages metafor, metadat, lme4 and jsonlite (Debian: r-cran-metafor
# r-cran-metadat r-cran-lme4 r-cran-jsonlite). The input data go into the JSON too, so the tests
# need neither R nor metadat.
#
# rma.glmm is run twice per data set: with metafor's defaults (lme4::glmer with its default
# optimisers and tolerances) and with tight controls passed through
# control = list(glmerCtrl = ...): bobyqa in both stages with final trust-region radius 1e-10 and
# PIRLS tolerance 1e-9 (1e-12 makes PIRLS fail on dat.bcg). The tests compare our optimum with the
# tight run and record how far metafor's default stopping point is from it.

suppressPackageStartupMessages({
  library(metafor)
  library(metadat)
  library(lme4)
  library(jsonlite)
})

out_path <- file.path("tests", "fixtures", "metafor", "rare_events.json")

num <- function(x) if (is.null(x) || length(x) == 0) NA_real_ else unname(as.numeric(x))

tight_glmer <- list(
  optimizer = c("bobyqa", "bobyqa"), tolPwrss = 1e-9,
  optCtrl = list(rhoend = 1e-10, maxfun = 1e6),
  calc.derivs = TRUE
)

# ---------------------------------------------------------------- input data
two_by_two <- function(study, ai, n1i, ci, n2i) {
  list(study = as.character(study), events_treat = ai, n_treat = n1i,
       events_ctrl = ci, n_ctrl = n2i)
}
bcg <- dat.bcg
datasets <- list(
  bcg = two_by_two(bcg$author, bcg$tpos, bcg$tpos + bcg$tneg, bcg$cpos, bcg$cpos + bcg$cneg),
  nielweise2007 = with(dat.nielweise2007, two_by_two(author, ai, n1i, ci, n2i)),
  li2007 = with(dat.li2007, two_by_two(study, ai, n1i, ci, n2i)),
  # Hand-made: single zeros (z1, z2), a double-zero table (z3), a table with all events in one
  # arm (z5), the same data as tests/fixtures/metafor/reference.json's "zero" set.
  zero = two_by_two(c("z1", "z2", "z3", "z4", "z5"), c(0, 3, 0, 5, 2), c(20, 25, 15, 30, 2),
                    c(4, 0, 0, 9, 1), c(22, 24, 16, 31, 3))
)

summary_record <- function(res, name) {
  list(
    dataset = name, k = res$k, k_yi = res$k.yi, estimate = num(res$beta), se = num(res$se),
    zval = num(res$zval), pval = num(res$pval), ci_lb = num(res$ci.lb), ci_ub = num(res$ci.ub),
    QE = num(res$QE), QEp = num(res$QEp), I2 = num(res$I2), H2 = num(res$H2),
    weights = num(weights(res))
  )
}

mh_rd <- list()
peto <- list()
peto_escalc <- list()
glmm <- list()
for (name in names(datasets)) {
  d <- datasets[[name]]
  res <- suppressWarnings(rma.mh(ai = d$events_treat, n1i = d$n_treat, ci = d$events_ctrl,
                                 n2i = d$n_ctrl, measure = "RD"))
  mh_rd[[length(mh_rd) + 1]] <- summary_record(res, name)

  res <- suppressWarnings(rma.peto(ai = d$events_treat, n1i = d$n_treat, ci = d$events_ctrl,
                                   n2i = d$n_ctrl))
  peto[[length(peto) + 1]] <- summary_record(res, name)

  for (drop00 in c(FALSE, TRUE)) {
    es <- escalc("PETO", ai = d$events_treat, n1i = d$n_treat, ci = d$events_ctrl,
                 n2i = d$n_ctrl, drop00 = drop00)
    keep <- !is.na(es$yi)
    peto_escalc[[length(peto_escalc) + 1]] <- list(
      dataset = name, drop00 = drop00, study = d$study[keep], yi = num(es$yi[keep]),
      vi = num(es$vi[keep])
    )
  }

  for (model in c("UM.FS", "UM.RS")) {
    for (controls in c("default", "tight")) {
      ctrl <- if (controls == "tight") list(glmerCtrl = tight_glmer) else list()
      res <- suppressWarnings(rma.glmm(measure = "OR", ai = d$events_treat, n1i = d$n_treat,
                                       ci = d$events_ctrl, n2i = d$n_ctrl, model = model,
                                       control = ctrl))
      glmm[[length(glmm) + 1]] <- list(
        dataset = name, model = model, controls = controls, nAGQ = if (model == "UM.FS") 7 else 1,
        k = res$k, k_yi = res$k.yi, estimate = num(res$beta), se = num(res$se),
        zval = num(res$zval), pval = num(res$pval), ci_lb = num(res$ci.lb),
        ci_ub = num(res$ci.ub), tau2 = num(res$tau2), I2 = num(res$I2), H2 = num(res$H2),
        QE_Wld = num(res$QE.Wld), QEp_Wld = num(res$QEp.Wld), QE_LRT = num(res$QE.LRT),
        QEp_LRT = num(res$QEp.LRT), QE_df = num(res$QE.df),
        ll_ML = num(res$fit.stats["ll", "ML"])
      )
    }
  }
}

out <- list(
  generated_by = "tests/metafor/make_reference_rare.R",
  r_version = R.version.string,
  metafor_version = as.character(packageVersion("metafor")),
  metadat_version = as.character(packageVersion("metadat")),
  lme4_version = as.character(packageVersion("lme4")),
  controls = list(glmer_tight = tight_glmer),
  datasets = datasets,
  rma_mh_rd = mh_rd,
  rma_peto = peto,
  escalc_peto = peto_escalc,
  rma_glmm = glmm
)
dir.create(dirname(out_path), recursive = TRUE, showWarnings = FALSE)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, na = "null", pretty = TRUE), out_path)
cat("wrote", out_path, "\n")

"""From typed inputs to pooled effects: comparisons, arm rows, pools, dose-response.

- `comparisons`: which declared comparison each study belongs to, or why none
- `tabulate`: outcomes by indication × outcome × dose tier × arm role
- `pool`: pooling per indication × comparison × outcome × dose tier
- `dose_response`: a meta-regression of each drug arm's effect on its daily dose
"""

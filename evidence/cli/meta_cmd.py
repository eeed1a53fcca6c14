"""`evidence meta`: standalone pooling, as metafor's rma is used."""

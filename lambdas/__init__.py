"""Lambda code for streamlake. Ships as one asset; every handler imports `lambdas.<module>`."""

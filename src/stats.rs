//! The statistics the analysis judges a canary with: small pure functions on numbers.

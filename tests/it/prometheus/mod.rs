//! A real Prometheus on 127.0.0.1, loaded with data the tests make.

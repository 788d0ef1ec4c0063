//! Each release in the test repository (the shop's two and the ledger), every state `kanari plan`
//! lists for it.

use super::checks::{check_release, spec_template};
use super::{Cond, LEDGER, Pods, Release, SHOP, at, ok_in, shop_repo};
use crate::{kanari, tree};

fn checkout() -> Release {
    Release {
        selector: "shop/checkout",
        name: "checkout",
        namespace: "shop",
        hosts: &["checkout.example.com", "checkout.shop.svc.cluster.local"],
        gateways: &["istio-system/public-gw", "mesh"],
        service_port: None,
        stable: ("stable-2024", "registry.example.com/shop/checkout:2024.12.1"),
        canary: Some(("rc1", "registry.example.com/shop/checkout:2025.1.0-rc1")),
        autoscaling: Some((20, 65)),
        template: Some(spec_template(SHOP, "checkout")),
        port: 8443,
    }
}

#[test]
fn checkout_autoscaled_behind_a_gateway_with_cookie_and_uri_matches() {
    use Pods::{Fixed, Hpa};
    let repo = shop_repo();
    // minReplicas 4: the canary HPA's minimum is ceil(4 × weight / 100), at least 1 (5% → 1,
    // 30% → 2); non-zero overrides set HPA minimums, and a version at 0 is `replicas: 0` without
    // an HPA. A stage runs the larger of its own count and the next stage's, per version, unless
    // it overrides that version: canary-5 runs thirty's 2, thirty runs half's 8 and 6, and half's
    // overrides are taken as written.
    let beta = vec![
        vec![Cond::Cookie("beta", "yes", &[])],
        vec![Cond::Uri("prefix", "/api/v2/"), Cond::Header("x-client", "regex", "^mobile-(ios|android)$")],
    ];
    let expects = [
        at("steady", None, Hpa(4), None),
        at("prepare", None, Hpa(4), Some(Hpa(1))),
        at("beta-testers", Some(0), Hpa(4), Some(Hpa(1))).matching(beta),
        at("canary-5", Some(5), Hpa(4), Some(Hpa(2))).matching(vec![
            vec![Cond::Header("x-canary", "exact", "always")],
            vec![
                Cond::Cookie("ab.test", "v1.5+x", &["abxtest=v1x5x", "ab.test=v1x55x", "a=1; ab.test=v1.5x"]),
                Cond::Uri("exact", "/checkout/v2"),
            ],
        ]),
        at("thirty", Some(30), Hpa(8), Some(Hpa(6))),
        at("half", Some(50), Hpa(8), Some(Hpa(6))),
        at("full", Some(100), Fixed(0), Some(Hpa(4))),
        at("aborted", None, Hpa(4), Some(Fixed(0))),
    ];
    check_release(repo.path(), &checkout(), &expects);
}

#[test]
fn search_with_fixed_replicas_regex_uri_and_anded_headers() {
    use Pods::Fixed;
    let repo = shop_repo();
    let rel = Release {
        selector: "search",
        name: "search",
        namespace: "catalog",
        hosts: &["search"],
        gateways: &[],
        service_port: Some(8080),
        stable: ("blue", "ghcr.io/acme/search:1.4.2"),
        canary: Some(("green", "ghcr.io/acme/search:1.5.0")),
        autoscaling: None,
        template: None,
        port: 8080,
    };
    // replicas 7: the canary's count is ceil(7 × weight / 100) (20% → 2, 30% → 3, 80% → 6), and
    // `prepare` already runs the first stage's. A stage runs the larger of its own count and the
    // next stage's, per version, unless it overrides that version: staff runs thirty's 3, thirty
    // most's 6, and most all-in's 9 (its own stable override of 2 taken as written).
    let staff = vec![
        vec![Cond::Uri("regex", "^/internal/.*")],
        vec![Cond::Header("x-employee", "prefix", "acme-"), Cond::Header("x-region", "exact", "eu-west-1")],
    ];
    let expects = [
        at("steady", None, Fixed(7), None),
        at("prepare", None, Fixed(7), Some(Fixed(2))),
        at("staff", Some(20), Fixed(7), Some(Fixed(3))).matching(staff),
        at("thirty", Some(30), Fixed(7), Some(Fixed(6))),
        at("most", Some(80), Fixed(2), Some(Fixed(9))),
        at("all-in", Some(100), Fixed(0), Some(Fixed(9))),
        at("aborted", None, Fixed(7), Some(Fixed(0))),
    ];
    check_release(repo.path(), &rel, &expects);

    // The same state renders to the same bytes.
    let outs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    for out in &outs {
        let out = out.path().join("staff");
        ok_in(repo.path(), &["render", "search", "--stage", "staff", "--out", out.to_str().unwrap()]);
    }
    assert_eq!(tree(outs[0].path()), tree(outs[1].path()), "two renders of one state differ");
}

#[test]
fn steady_only_release_sets_the_image_of_its_only_container() {
    let repo = shop_repo();
    let rel = Release {
        selector: "finance/ledger",
        name: "ledger",
        namespace: "finance",
        hosts: &["ledger.finance.svc.cluster.local"],
        gateways: &[],
        service_port: Some(5000),
        stable: ("v2024-11", "quay.io/acme/ledger:2024.11"),
        canary: None,
        autoscaling: None,
        template: Some(spec_template(LEDGER, "ledger")),
        port: 5000,
    };
    check_release(repo.path(), &rel, &[at("steady", None, Pods::Fixed(3), None)]);

    // A release without a canary has no `prepare`: bad usage, and nothing is written.
    let out = repo.path().join("out");
    let run = kanari(
        repo.path(),
        &[
            "-C",
            repo.path().to_str().unwrap(),
            "render",
            "ledger",
            "--stage",
            "prepare",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 2, "render --stage prepare of a release without a canary:\n{}\n{}", run.stdout, run.stderr);
    assert!(!out.exists(), "a failed render wrote {}", out.display());
}

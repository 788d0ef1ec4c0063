//! `kanari render` without `--out`: one overlay per release under `overlays/`.

use std::collections::BTreeSet;

use super::{ok_in, shop_repo};
use crate::{all, documents, kustomize, one, tree, weights};

#[test]
fn default_outputs_are_overlays_namespace_name_and_render_alone() {
    let repo = shop_repo();
    let root = repo.path();
    ok_in(root, &["render"]);
    let outputs = ["overlays/shop/checkout", "overlays/catalog/search", "overlays/finance/ledger"];
    let dirs: BTreeSet<String> = tree(&root.join("overlays"))
        .keys()
        .filter(|p| p.components().count() == 2)
        .map(|p| format!("overlays/{}", p.display()))
        .collect();
    assert_eq!(dirs, outputs.iter().map(|s| s.to_string()).collect(), "overlay folders");
    for dir in outputs {
        let docs = documents(&kustomize(&root.join(dir)));
        assert!(!all(&docs, "VirtualService").is_empty(), "{dir} builds a VirtualService");
        let k = documents(&std::fs::read_to_string(root.join(dir).join("kustomization.yaml")).unwrap());
        assert_eq!(k[0]["metadata"]["annotations"]["kanari.dev/stage"], "steady", "{dir}");
    }

    // Moving one release touches its overlay alone; the others stay byte for byte.
    let search_before = tree(&root.join("overlays/catalog/search"));
    let ledger_before = tree(&root.join("overlays/finance/ledger"));
    ok_in(root, &["render", "shop/checkout", "--stage", "half"]);
    assert_eq!(tree(&root.join("overlays/catalog/search")), search_before);
    assert_eq!(tree(&root.join("overlays/finance/ledger")), ledger_before);
    let checkout = root.join("overlays/shop/checkout");
    let docs = documents(&kustomize(&checkout));
    let vs = one(&docs, "VirtualService");
    let mut split = weights(vs);
    split.sort();
    assert_eq!(split, vec![("rc1".to_string(), 50), ("stable-2024".to_string(), 50)]);
    assert_eq!(all(&docs, "Service").len(), 0, "checkout's Service is not kanari's");

    // Without --stage, render keeps the state the overlay records.
    let before = tree(&checkout);
    ok_in(root, &["render", "checkout"]);
    assert_eq!(tree(&checkout), before, "re-rendering the recorded state changed the overlay");
}

//! Deployment modes at the edge: `local_trusted` never listens beyond loopback, and the
//! authenticated mode's settings (exposure, public URL, sign-up) resolve as configured.

use std::path::Path;

use paperclip_config::{Env, Settings};

fn env_with_home(dir: &Path, extra: &[(&str, &str)]) -> Env {
    let mut env = Env::from_pairs([
        ("HOME", dir.to_str().unwrap()),
        ("PAPERCLIP_HOME", dir.join("pc").to_str().unwrap()),
    ]);
    for (k, v) in extra {
        env.set(*k, *v);
    }
    env
}

#[test]
fn local_trusted_refuses_to_listen_beyond_loopback() {
    let dir = tempfile::tempdir().unwrap();
    for extra in [
        &[("HOST", "0.0.0.0")][..],
        &[("PAPERCLIP_BIND", "lan")][..],
        &[
            ("HOST", "192.168.1.5"),
            ("PAPERCLIP_DEPLOYMENT_MODE", "local_trusted"),
        ][..],
    ] {
        let err = Settings::resolve(env_with_home(dir.path(), extra))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("PAPERCLIP_DEPLOYMENT_MODE=authenticated"),
            "{extra:?}: {err}"
        );
    }
    // Authenticated mode may bind anything; exposure, public URL and sign-up as configured.
    let s = Settings::resolve(env_with_home(
        dir.path(),
        &[
            ("HOST", "0.0.0.0"),
            ("PAPERCLIP_DEPLOYMENT_MODE", "authenticated"),
            ("PAPERCLIP_DEPLOYMENT_EXPOSURE", "public"),
            ("PAPERCLIP_PUBLIC_URL", "https://pc.example.com/"),
        ],
    ))
    .unwrap();
    assert_eq!(
        s.server.deployment_mode,
        paperclip_domain::DeploymentMode::Authenticated
    );
    assert_eq!(
        s.server.exposure,
        paperclip_domain::DeploymentExposure::Public
    );
    assert_eq!(
        s.server.auth.public_url.as_deref(),
        Some("https://pc.example.com")
    );
    assert!(s.server.auth.disable_sign_up);
    assert!(s
        .server
        .allowed_hostnames
        .contains(&"pc.example.com".to_string()));
    for (var, value) in [
        ("PAPERCLIP_DEPLOYMENT_MODE", "open"),
        ("PAPERCLIP_DEPLOYMENT_EXPOSURE", "internet"),
        ("PAPERCLIP_BIND", "tailnet"),
        ("PAPERCLIP_PUBLIC_URL", "ftp://x"),
    ] {
        let err = Settings::resolve(env_with_home(
            dir.path(),
            &[("PAPERCLIP_DEPLOYMENT_MODE", "authenticated"), (var, value)],
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains(var), "{var}: {err}");
    }
}

//! Bad configuration stops the binary at once, naming what is wrong.

mod common;

use common::*;

#[test]
fn bad_environment_values_name_the_variable_and_start_nothing() {
    for (var, value) in [
        ("DATABASE_POOL_MAX", "lots"),
        ("DATABASE_CONNECT_TIMEOUT_SECONDS", "0"),
        ("DATABASE_IDLE_TIMEOUT_SECONDS", "-5"),
        ("DATABASE_PREPARED_STATEMENTS", "sometimes"),
        ("PORT", "123456"),
        ("PAPERCLIP_INSTANCE_ID", "a/b"),
        ("DATABASE_URL", "mysql://root@localhost/x"),
        ("PAPERCLIP_MIGRATION_AUTO_APPLY", "yes please"),
    ] {
        let inst = Instance::new().with(var, value);
        let out = inst.output(&["run"]);
        assert!(!out.status.success(), "{var}={value} was accepted");
        let err = stderr(&out);
        assert!(err.contains(var), "{var}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(!inst.root().join("db").exists(), "{var}: nothing started");
    }
}

#[test]
fn an_invalid_config_file_names_the_key() {
    let inst = Instance::new();
    std::fs::create_dir_all(inst.root()).unwrap();
    std::fs::write(
        inst.root().join("config.json"),
        r#"{"database":{"mode":"sqlite"}}"#,
    )
    .unwrap();
    let out = inst.output(&["run"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("database.mode"), "{}", stderr(&out));
}

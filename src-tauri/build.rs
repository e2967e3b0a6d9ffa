fn main() {
    // Every command the window may call is declared here and granted one by one in
    // src-tauri/capabilities/ (least privilege: nothing is allowed by default).
    let commands = &[
        "health_snapshot",
        "send_test",
        "app_status",
        "dashboard_painted",
        "set_provider_enabled",
        "control_provider",
        "operations_audit",
        "keychain_health",
        "credential_statuses",
        "preview_env_import",
        "apply_env_import",
        "rotate_credentials",
        "remove_credentials",
        "credential_audit",
        "log_snapshot",
        "send_history",
        "history_summary",
        "provider_timeline",
        "get_settings",
        "check_settings",
        "save_settings",
        "connections",
        "connection_fingerprint",
        "add_connection",
        "remove_connection",
        "use_connection",
        "desktop_settings",
        "check_global_shortcut",
        "save_desktop_settings",
        "set_start_at_login",
        "debug_tray_latest",
    ];
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .capabilities_path_pattern("./src-tauri/capabilities/**/*")
            .app_manifest(tauri_build::AppManifest::new().commands(commands)),
    )
    .expect("failed to run tauri-build");
}

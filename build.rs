//! Tauri's build step, with the app's commands declared so that each gets a permission and the
//! capabilities in `capabilities/` grant the web view exactly the ones the UI uses.

const COMMANDS: &[&str] = &include!("src-tauri/command_names.in");

fn main() {
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .expect("tauri-build");
}

//! Tauri's build step, with the app's commands declared so that each gets a permission and the
//! capabilities in `capabilities/` grant the web view exactly the ones the UI uses.

fn main() {
    let commands = include!("src-tauri/command_names.in");
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(&commands)),
    )
    .expect("tauri-build");
}

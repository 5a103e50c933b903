//! The build context of an own service: a tar holding the Dockerfile and the binary.

/// A tar holding `Dockerfile` and the binary named `package` (mode 0755).
pub(crate) async fn build_context(
    package: &str,
    binary: &[u8],
    dockerfile: &str,
) -> std::io::Result<Vec<u8>> {
    tar_files(&[
        ("Dockerfile", dockerfile.as_bytes(), 0o644),
        (package, binary, 0o755),
    ])
    .await
}

/// A tar of files: (path inside the archive, content, mode); mtime 0, so the same files
/// give the same bytes. Also what a stack copies into a container before it starts.
pub async fn tar_files(files: &[(&str, &[u8], u32)]) -> std::io::Result<Vec<u8>> {
    let mut tar = tokio_tar::Builder::new(Vec::new());
    for &(name, data, mode) in files {
        let mut header = tokio_tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_mtime(0);
        header.set_cksum();
        tar.append_data(&mut header, name, data).await?;
    }
    tar.into_inner().await
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    use super::*;

    #[tokio::test]
    async fn build_context_holds_dockerfile_and_executable_binary() {
        let tar = build_context("pay", b"\x7fELF", "FROM scratch\n")
            .await
            .unwrap();
        let mut archive = tokio_tar::Archive::new(&tar[..]);
        let mut entries = archive.entries().unwrap();
        let mut seen = Vec::new();
        while let Some(entry) = entries.next().await {
            let entry = entry.unwrap();
            seen.push((
                entry.path().unwrap().display().to_string(),
                entry.header().mode().unwrap(),
            ));
        }
        assert_eq!(
            seen,
            vec![("Dockerfile".to_owned(), 0o644), ("pay".to_owned(), 0o755)]
        );
    }
}

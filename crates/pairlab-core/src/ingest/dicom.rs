//! TEMPORARY STUB (being replaced by the real DICOM module).
pub struct DicomImage {
    pub image: image::DynamicImage,
    pub width: u32,
    pub height: u32,
    pub bits_stored: u16,
    pub photometric: String,
    pub view: Option<String>,
    pub patient_id: Option<String>,
    pub study_uid: Option<String>,
    pub modality: Option<String>,
}
#[derive(Debug, thiserror::Error)]
pub enum DicomError {
    #[error("not a readable DICOM file: {0}")]
    Parse(String),
    #[error("image of {width}×{height} pixels exceeds the limit of {limit} pixels")]
    TooLarge { width: u32, height: u32, limit: u64 },
    #[error("DICOM pixel data could not be decoded: {0}")]
    Pixels(String),
}
pub fn read_dicom(_path: &std::path::Path, _max_pixels: u64) -> Result<DicomImage, DicomError> {
    Err(DicomError::Parse("stub".into()))
}
pub enum DicomPixels {
    Mono8(Vec<u8>),
    Mono16(Vec<u16>),
    Rgb8(Vec<u8>),
}
pub struct DicomSpec<'a> {
    pub width: u32,
    pub height: u32,
    pub pixels: DicomPixels,
    pub photometric: &'a str,
    pub rescale: Option<(f64, f64)>,
    pub window: Option<(f64, f64)>,
    pub patient_id: Option<&'a str>,
    pub study_uid: Option<&'a str>,
    pub view: Option<&'a str>,
}
pub fn write_dicom(_path: &std::path::Path, _spec: &DicomSpec) -> Result<(), DicomError> {
    Err(DicomError::Parse("stub".into()))
}

//! The one font charts are drawn with, found once per process.
//!
//! plotters draws PNG text with ab_glyph (pure Rust) from a font we register, and measures SVG
//! text with the same font while the browser draws it with [`FAMILY`]. The font is
//! `[reports] font` when set, else the first of [`SEARCH`] that can be read: Debian's CJK
//! fonts first (Chinese API names must render), then common Latin fonts. Without a CJK font
//! charts still render, with Chinese characters as empty boxes, and [`init`] says so once as a
//! warning; without any font text cannot be measured, so rendering fails with an error that
//! names the fix.
//!
//! A `.ttc` collection holds several faces: Noto Sans CJK's first is Japanese, whose forms of
//! some Han characters differ from Taiwan's. ab_glyph (through plotters) only reads a
//! collection's first face, so [`pick_face`] finds the Traditional Chinese face by its name and
//! the loaded bytes point the collection's first entry at it.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ab_glyph::FontRef;
use plotters::style::FontStyle;

/// The font family charts name: browsers resolve it for SVG (Taiwan's usual CJK fonts first),
/// and it is the name the loaded font is registered under for measuring and PNG drawing.
pub const FAMILY: &str = "'Noto Sans CJK TC', 'Noto Sans TC', 'Microsoft JhengHei', \
     'PingFang TC', 'Heiti TC', 'WenQuanYi Zen Hei', 'Noto Sans CJK SC', sans-serif";

/// Where fonts are looked for when `[reports] font` is not set, best first: Debian's
/// `fonts-noto-cjk` and `fonts-wqy-zenhei`/`-microhei` (and where other distributions put Noto
/// CJK), then Latin-only fonts so charts still render.
pub const SEARCH: &[&str] = &[
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/lato/Lato-Regular.ttf",
];

/// Characters a font must have to count as CJK-capable (common in API names).
const CJK_PROBE: &[char] = &['查', '詢', '資', '料', '服', '務', '中', '台'];

/// The font charts use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedFont {
    pub path: PathBuf,
    /// The face's family name (`Noto Sans CJK TC`).
    pub face: String,
    /// Whether it draws Chinese.
    pub cjk: bool,
}

/// What [`init`] found: the font, or why there is none.
pub type FontStatus = Result<LoadedFont, String>;

static LOADED: OnceLock<FontStatus> = OnceLock::new();
/// The same font, for [`super::typeset`], which measures and draws glyphs itself.
static GLYPHS: OnceLock<FontRef<'static>> = OnceLock::new();

/// Finds, loads and registers the chart font, once per process; later calls return the first
/// result. `configured` is `[reports] font`. Logs a warning when the font cannot draw Chinese
/// or there is none. Returns what was loaded.
pub fn init(configured: Option<&Path>) -> &'static FontStatus {
    LOADED.get_or_init(|| {
        let status = load_first(configured);
        match &status {
            Ok(f) if f.cjk => tracing::info!(path = %f.path.display(), face = %f.face, "chart font"),
            Ok(f) => tracing::warn!(
                path = %f.path.display(),
                face = %f.face,
                "chart font has no Chinese characters: Chinese names in PNG charts will show as \
                 boxes; install fonts-noto-cjk (apt-get install fonts-noto-cjk) or set [reports] font"
            ),
            Err(e) => tracing::warn!(error = %e, "no chart font: charts cannot be drawn"),
        }
        status
    })
}

/// The loaded font's glyphs, loading it from the default search list when [`init`] was not
/// called.
pub(crate) fn ensure() -> crate::error::Result<&'static FontRef<'static>> {
    init(None)
        .as_ref()
        .map_err(|e| crate::error::ReportError::Chart(e.clone()))?;
    GLYPHS
        .get()
        .ok_or_else(|| crate::error::ReportError::Chart("the chart font is not loaded".into()))
}

fn load_first(configured: Option<&Path>) -> FontStatus {
    let mut tried = Vec::new();
    if let Some(p) = configured {
        match load(p) {
            Ok(f) => return Ok(f),
            Err(e) => {
                // The configured font is a mistake worth its own line, then the defaults apply.
                tracing::warn!(path = %p.display(), error = %e, "[reports] font cannot be used; trying the default fonts");
                tried.push(format!("{}: {e}", p.display()));
            }
        }
    }
    for p in SEARCH {
        let p = Path::new(p);
        if !p.exists() {
            continue;
        }
        match load(p) {
            Ok(f) => return Ok(f),
            Err(e) => tried.push(format!("{}: {e}", p.display())),
        }
    }
    Err(format!(
        "no usable font (install fonts-noto-cjk, or set [reports] font to a .ttf/.otf/.ttc file){}",
        if tried.is_empty() {
            String::new()
        } else {
            format!("; tried {}", tried.join("; "))
        }
    ))
}

/// Reads one font file and registers it under [`FAMILY`].
fn load(path: &Path) -> Result<LoadedFont, String> {
    let mut bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    let (index, face, cjk) = pick_face(&bytes)?;
    if index > 0 {
        point_first_face_at(&mut bytes, index)?;
    }
    // Registered fonts live as long as the process; this happens once.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    let glyphs = FontRef::try_from_slice(bytes).map_err(|_| "not a font ab_glyph can read")?;
    // plotters needs the family registered to accept text styles naming it.
    plotters::style::register_font(FAMILY, FontStyle::Normal, bytes)
        .map_err(|_| "not a font ab_glyph can read".to_string())?;
    let _ = GLYPHS.set(glyphs);
    Ok(LoadedFont {
        path: path.to_path_buf(),
        face,
        cjk,
    })
}

/// The face to use in a font file (a collection's Traditional Chinese face when there is one),
/// its family name, and whether it has Chinese characters.
pub fn pick_face(bytes: &[u8]) -> Result<(u32, String, bool), String> {
    let count = ttf_parser::fonts_in_collection(bytes).unwrap_or(1);
    let mut faces = Vec::new();
    for i in 0..count {
        let Ok(face) = ttf_parser::Face::parse(bytes, i) else {
            continue;
        };
        let family = family_name(&face).unwrap_or_default();
        let cjk = CJK_PROBE.iter().all(|c| face.glyph_index(*c).is_some());
        faces.push((i, family, cjk));
    }
    let rank = |(_, family, cjk): &(u32, String, bool)| {
        let f = family.to_ascii_uppercase();
        // Proportional before mono, Taiwan's forms first, then Hong Kong's, then any CJK.
        let mono = f.contains("MONO");
        let region = if f.ends_with(" TC") || f.contains(" TC ") {
            0
        } else if f.ends_with(" HK") {
            1
        } else {
            2
        };
        (!cjk, mono, region)
    };
    faces
        .into_iter()
        .min_by_key(|f| rank(f))
        .ok_or_else(|| "not a font file (no face could be parsed)".to_string())
}

fn family_name(face: &ttf_parser::Face) -> Option<String> {
    use ttf_parser::name_id;
    // The typographic family (16) is the plain one ("Noto Sans CJK TC" rather than "… Regular").
    for id in [name_id::TYPOGRAPHIC_FAMILY, name_id::FAMILY] {
        if let Some(n) = face
            .names()
            .into_iter()
            .filter(|n| n.name_id == id && n.is_unicode())
            .find_map(|n| n.to_string())
        {
            return Some(n);
        }
    }
    None
}

/// Rewrites a collection's header so that its first entry is face `index`: the faces' tables
/// are addressed from the file's start, so only the header's offset list changes.
fn point_first_face_at(bytes: &mut [u8], index: u32) -> Result<(), String> {
    // 'ttcf', version (4 bytes), numFonts (4 bytes), then one 4-byte offset per face.
    let at = 12 + 4 * index as usize;
    if bytes.get(..4) != Some(b"ttcf") || bytes.len() < at + 4 {
        return Err("not a font collection".into());
    }
    let offset: [u8; 4] = bytes[at..at + 4]
        .try_into()
        .map_err(|_| "short collection header".to_string())?;
    bytes[12..16].copy_from_slice(&offset);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_configured_font_falls_back_to_the_search_list() {
        let status = load_first(Some(Path::new("/nonexistent/font.ttc")));
        // Either a default font was found, or the error names the fix.
        match status {
            Ok(f) => assert_ne!(f.path, Path::new("/nonexistent/font.ttc")),
            Err(e) => assert!(e.contains("[reports] font"), "{e}"),
        }
    }

    #[test]
    fn a_file_that_is_not_a_font_is_refused() {
        let dir = std::env::temp_dir().join(format!("gw-font-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("not-a-font.ttf");
        std::fs::write(&p, b"hello").unwrap();
        let e = load(&p).unwrap_err();
        assert!(e.contains("not a font"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_latin_font_is_taken_but_known_to_lack_chinese() {
        // fonts-dejavu-core, which ops/test.sh installs beside the CJK font.
        let bytes = std::fs::read("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
            .expect("DejaVu Sans (fonts-dejavu-core) is installed by ops/test.sh");
        let (index, face, cjk) = pick_face(&bytes).unwrap();
        assert_eq!((index, face.as_str(), cjk), (0, "DejaVu Sans", false));
    }

    #[test]
    fn noto_cjk_collection_gives_its_traditional_chinese_face() {
        let mut bytes = std::fs::read(SEARCH[0])
            .expect("Noto Sans CJK (fonts-noto-cjk) is installed by ops/test.sh");
        let (index, face, cjk) = pick_face(&bytes).unwrap();
        assert_eq!(face, "Noto Sans CJK TC");
        assert!(cjk);
        point_first_face_at(&mut bytes, index).unwrap();
        let first = ttf_parser::Face::parse(&bytes, 0).unwrap();
        assert_eq!(family_name(&first).as_deref(), Some("Noto Sans CJK TC"));
    }
}

//! Byte offsets (what toml's spans are) to the 1-based line and column an editor shows.

/// Line starts of one text, for repeated lookups.
pub struct LineIndex<'a> {
    text: &'a str,
    /// Byte offset of the first character of each line.
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub fn new(text: &'a str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        LineIndex { text, starts }
    }

    /// 1-based line and column of a byte offset; the column counts characters, not bytes, as
    /// editors and toml's own messages do. Offsets past the end clamp to the end.
    pub fn locate(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|&s| s <= offset);
        let start = self.starts[line - 1];
        let col = self.text[start..offset].chars().count() + 1;
        (line, col)
    }

    /// 1-based line of a byte offset.
    pub fn line(&self, offset: usize) -> usize {
        self.locate(offset).0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_map_to_one_based_line_and_column() {
        let idx = LineIndex::new("ab\ncd\n\nef");
        assert_eq!(idx.locate(0), (1, 1));
        assert_eq!(idx.locate(1), (1, 2));
        assert_eq!(idx.locate(2), (1, 3)); // the newline itself
        assert_eq!(idx.locate(3), (2, 1));
        assert_eq!(idx.locate(6), (3, 1));
        assert_eq!(idx.locate(8), (4, 2));
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let idx = LineIndex::new("# é\nname = \"ü\" x");
        assert_eq!(idx.locate("# é\nname = \"ü\" ".len()), (2, 12));
    }

    #[test]
    fn offsets_past_the_end_clamp() {
        let idx = LineIndex::new("a\nb");
        assert_eq!(idx.locate(99), (2, 2));
        assert_eq!(LineIndex::new("").locate(5), (1, 1));
    }
}

// The size of the tiles in the call grid.
//
// Why a module of its own: it is a small piece of geometry worth getting
// right on every screen, and it needs no DOM to be checked. Given how many
// tiles and the box they share, it picks the number of columns that makes
// each tile largest, counting a tile only for the part that has a usable
// shape (between portrait 3:4 and wide 16:9: a picture is cropped to fill
// its tile, and a tile much wider or taller than that crops too much). In a
// landscape box (a laptop), portrait tiles count for less, as most cameras
// there are landscape; in a portrait box (a phone) they count in full.

const WIDEST = 16 / 9;
const TALLEST = 3 / 4;

/**
 * count tiles in a box of width × height with `gap` pixels between them.
 * Returns {cols, rows, width, height}: the grid and the size of each tile.
 * tallest, widest: the most portrait and the most landscape shapes a tile
 * may have (width / height); on a portrait screen (a phone) tiles may be a
 * little wider than 16:9, so that they fill its width.
 */
export function bestGrid(count, width, height, gap = 8, { tallest = TALLEST, widest = height > width ? 2.2 : WIDEST } = {}) {
  if (count <= 0 || width <= 0 || height <= 0) return { cols: 1, rows: 1, width: 0, height: 0 };
  let best = null;
  for (let cols = 1; cols <= count; cols += 1) {
    const rows = Math.ceil(count / cols);
    // A layout with an empty last row is never better than one column less.
    if (cols > 1 && (rows - 1) * cols >= count) continue;
    const cellW = (width - gap * (cols - 1)) / cols;
    const cellH = (height - gap * (rows - 1)) / rows;
    if (cellW <= 0 || cellH <= 0) continue;
    // Shrink the cell to a usable shape; what is left is what counts.
    let w = cellW;
    let h = cellH;
    if (w / h > widest) w = h * widest;
    if (w / h < tallest) h = w / tallest;
    const shape = width > height && w / h < 4 / 3 ? Math.sqrt(w / h / (4 / 3)) : 1;
    const area = w * h * shape;
    if (!best || area > best.area + 1) best = { cols, rows, width: Math.floor(w), height: Math.floor(h), area };
  }
  const { cols, rows, width: w, height: h } = best ?? { cols: 1, rows: count, width: 0, height: 0 };
  return { cols, rows, width: w, height: h };
}

/*
 * Drawing the lanes on the canvas: the static layer (lanes, bins, places, arrows), the dots
 * as one path per lane, the glide between targets, and the counts above MAX_DOTS.
 */
import { BACKLOG, FIRST_BIN, LANES, SLOTS } from "./lane-table.js";
import { GUTTER, HEAD, positionIn } from "./lane-geometry.js";
import { LaneLabels } from "./lane-labels.js";

const GLIDE_MS = 250;

function easeOutCubic(p) {
  const q = 1 - p;
  return 1 - q * q * q;
}

export class LaneDrawing extends LaneLabels {
  readColours() {
    const style = getComputedStyle(this.stage);
    const read = (name, fallback) => style.getPropertyValue(name).trim() || fallback;
    this.colours = LANES.map((def) => read(def.colour, "#ccc"));
    this.theme = {
      lane: read("--lane-bg", "rgba(255,255,255,0.04)"),
      laneBorder: read("--lane-border", "rgba(255,255,255,0.12)"),
      place: read("--place", "rgba(255,255,255,0.22)"),
      placeFill: read("--place-fill", "rgba(255,255,255,0.08)"),
      extra: read("--extra-place", "#f2cc60"),
      muted: read("--muted", "#9aa4b2"),
      text: read("--text", "#e6edf3"),
      highlight: read("--highlight", "#ffffff"),
      pill: read("--bg", "#0b0f14"),
      font: read("--font-ui", "system-ui, sans-serif"),
    };
    // Presenter mode enlarges the text drawn on the canvas, the dots and the band for the lane
    // headers, and lets the places' boxes fill their lanes. The text follows the browser's
    // default font size too (the canvas's own font-size is `medium`, lanes.css), as the page's does.
    const medium = parseFloat(getComputedStyle(this.canvas).fontSize) || 16;
    const scale = ((parseFloat(read("--canvas-text-scale", "1")) || 1) * medium) / 16;
    const dots = parseFloat(read("--canvas-dot-scale", "1")) || 1;
    const fill = read("--lane-fill", "0") === "1";
    const head = parseFloat(read("--lane-head", String(HEAD))) || HEAD;
    if (scale !== this.textScale || dots !== this.dotScale || fill !== this.fill || head !== this.cssHead) {
      this.textScale = scale;
      this.dotScale = dots;
      this.fill = fill;
      this.cssHead = head;
    }
    // The headers' type may have changed too: always fit the band again.
    if (this.width) this.layout(true);
    this.staticDirty = this.needsDraw = true;
  }

  tick(now) {
    requestAnimationFrame(this.tick);
    if (this.moving > 0) this.advance(now);
    else if (!this.needsDraw) return;
    this.needsDraw = false;
    this.draw();
  }

  advance(now) {
    for (let i = 0; i < this.count; i++) {
      const t0 = this.t0[i];
      if (t0 < 0) continue;
      const p = (now - t0) / GLIDE_MS;
      if (p >= 1) {
        this.x[i] = this.toX[i];
        this.y[i] = this.toY[i];
        this.r[i] = this.toR[i];
        this.t0[i] = -1;
        this.moving--;
        continue;
      }
      const e = easeOutCubic(Math.max(0, p));
      this.x[i] = this.fromX[i] + (this.toX[i] - this.fromX[i]) * e;
      this.y[i] = this.fromY[i] + (this.toY[i] - this.fromY[i]) * e;
      this.r[i] = this.fromR[i] + (this.toR[i] - this.fromR[i]) * e;
    }
  }

  draw() {
    const ctx = this.ctx;
    if (this.staticDirty) this.drawStatic();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    ctx.drawImage(this.staticLayer, 0, 0);
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    if (this.aggregated) this.drawAggregate(ctx);
    else this.drawDots(ctx);
  }

  drawDots(ctx) {
    for (let lane = 0; lane < LANES.length; lane++) {
      if (!this.laneCounts[lane]) continue;
      const shape = LANES[lane].shape;
      ctx.beginPath();
      for (let i = 0; i < this.count; i++) {
        if (this.lane[i] === lane) addShape(ctx, shape, this.x[i], this.y[i], this.r[i]);
      }
      ctx.fillStyle = this.colours[lane];
      ctx.fill();
    }
    const h = this.highlight;
    if (h >= 0 && h < this.count) {
      ctx.beginPath();
      ctx.arc(this.x[h], this.y[h], Math.max(this.r[h], 3) + 4, 0, Math.PI * 2);
      ctx.lineWidth = 2.5;
      ctx.strokeStyle = this.theme.highlight;
      ctx.stroke();
    }
  }

  /** Above MAX_DOTS: counts per lane; the places lanes still fill box by box. */
  drawAggregate(ctx) {
    const font = this.theme.font;
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    let closed = 0;
    for (let lane = FIRST_BIN; lane < LANES.length; lane++) closed += this.laneCounts[lane];
    for (let lane = 0; lane < LANES.length; lane++) {
      const geometry = this.laneGeometry[lane];
      if (!geometry) continue;
      const n = this.laneCounts[lane];
      ctx.fillStyle = this.colours[lane];
      if (geometry.kind === "places") {
        ctx.beginPath();
        const point = { x: 0, y: 0, r: 0 };
        const half = geometry.cell / 2 - (geometry.cell >= 7 ? 2 : 0.5);
        const shown = Math.min(n, geometry.places + (geometry.extra ? 1 : 0));
        if (geometry.groups) {
          // Per-worker slots: the boxes each worker really holds, not the first ones.
          const occupied = this.occupancy[lane];
          for (let c = 0; c < Math.min(geometry.places, occupied.length); c++) {
            if (!occupied[c]) continue;
            positionIn(geometry, c, point);
            ctx.rect(point.x - half, point.y - half, half * 2, half * 2);
          }
        } else {
          for (let rank = 0; rank < shown; rank++) {
            positionIn(geometry, rank, point);
            ctx.rect(point.x - half, point.y - half, half * 2, half * 2);
          }
        }
        ctx.fill();
        if (n > shown) {
          // More than the places hold (the witnesses are a sample apart): say how many.
          const text = `+${n - shown} over`;
          const size = Math.round(14 * this.textScale);
          ctx.font = `700 ${size}px ${font}`;
          const w = ctx.measureText(text).width + 12;
          const x = geometry.overflow.x - w;
          const y = geometry.overflow.y - 4;
          ctx.fillStyle = this.theme.pill;
          ctx.fillRect(x, y, w, size + 6);
          ctx.fillStyle = this.colours[lane];
          ctx.textAlign = "left";
          ctx.fillText(text, x + 6, y + (size + 6) / 2);
          ctx.textAlign = "center";
        }
        continue;
      }
      const box = geometry.box || { x: geometry.left, y: geometry.top, w: geometry.width, h: geometry.height };
      if (geometry.box) {
        // The bin's share of all closed connections, as a bar under its label.
        const share = closed ? n / closed : 0;
        const barHeight = Math.min(12 * this.dotScale, box.h - this.binHead - 4);
        ctx.fillRect(box.x + 8, box.y + this.binHead, Math.max(n ? 2 : 0, (box.w - 16) * share), barHeight);
        continue;
      }
      if (!n) continue;
      const size = Math.min(40 * this.textScale, box.w / 3.2);
      ctx.font = `700 ${size}px ${font}`;
      ctx.fillText(String(n), box.x + box.w / 2, box.y + box.h / 2);
    }
  }

  drawStatic() {
    this.staticDirty = false;
    const ctx = this.staticLayer.getContext("2d");
    const theme = this.theme;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.staticLayer.width, this.staticLayer.height);
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    this.textDrawn = {};

    ctx.lineWidth = 1;
    ctx.fillStyle = theme.lane;
    ctx.strokeStyle = theme.laneBorder;
    for (let k = 0; k < this.columns.length - 1; k++) {
      const c = this.columns[k];
      roundRect(ctx, c.x, c.y, c.w, c.h, 10);
      ctx.fill();
      ctx.stroke();
    }
    for (let lane = FIRST_BIN; lane < LANES.length; lane++) {
      const geometry = this.laneGeometry[lane];
      if (!geometry) continue;
      const b = geometry.box;
      roundRect(ctx, b.x, b.y, b.w, b.h, 8);
      ctx.fillStyle = theme.lane;
      ctx.fill();
      ctx.strokeStyle = theme.laneBorder;
      ctx.stroke();
      // A strip of the outcome's colour: a second cue next to the glyph and the label.
      ctx.fillStyle = this.colours[lane];
      ctx.fillRect(b.x, b.y + 6, 3, b.h - 12);
    }

    // Arrows in the gutters: the direction of travel.
    ctx.strokeStyle = theme.muted;
    ctx.lineWidth = 2;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    for (let k = 0; k < this.columns.length - 1; k++) {
      const c = this.columns[k];
      const x = c.x + c.w + GUTTER / 2;
      const y = c.y + c.h / 2;
      ctx.beginPath();
      ctx.moveTo(x - 3, y - 6);
      ctx.lineTo(x + 3, y);
      ctx.lineTo(x - 3, y + 6);
      ctx.stroke();
    }

    for (const lane of [BACKLOG, SLOTS]) {
      const geometry = this.laneGeometry[lane];
      if (geometry.kind === "places") this.drawPlaces(ctx, geometry);
      else if (lane === SLOTS && this.slotCapacity === null) {
        ctx.fillStyle = theme.muted;
        ctx.globalAlpha = 0.5;
        ctx.textAlign = "center";
        ctx.textBaseline = "middle";
        ctx.font = `600 ${Math.round(15 * this.textScale)}px ${theme.font}`;
        this.textDrawn.noLimit = { text: "no limit", px: Math.round(15 * this.textScale) };
        ctx.fillText("no limit", geometry.left + geometry.width / 2, geometry.top + geometry.height - 14 * this.textScale);
        ctx.globalAlpha = 1;
      }
    }
  }

  drawPlaces(ctx, geometry) {
    const theme = this.theme;
    const cell = geometry.cell;
    const point = { x: 0, y: 0, r: 0 };
    ctx.beginPath();
    if (cell >= 7) {
      // Large boxes (presenter mode) keep a visible gap between them.
      const half = cell / 2 - Math.max(1.5, cell * 0.04);
      for (let k = 0; k < geometry.places; k++) {
        positionIn(geometry, k, point);
        ctx.rect(point.x - half, point.y - half, half * 2, half * 2);
      }
      ctx.strokeStyle = theme.place;
      ctx.lineWidth = 1.25;
      ctx.stroke();
    } else {
      // Too many places for outlines: a compact grid of faint cells.
      const half = Math.max(0.5, cell / 2 - 0.5);
      for (let k = 0; k < geometry.places; k++) {
        positionIn(geometry, k, point);
        ctx.rect(point.x - half, point.y - half, half * 2, half * 2);
      }
      ctx.fillStyle = theme.placeFill;
      ctx.fill();
    }
    if (geometry.extra) {
      const e = geometry.extra;
      ctx.setLineDash(e.size > 40 ? [10, 6] : [4, 3]);
      ctx.strokeStyle = theme.extra;
      ctx.lineWidth = e.size > 40 ? 3 : 1.75;
      ctx.strokeRect(e.x - e.size / 2 + 1, e.y - e.size / 2 + 1, e.size - 2, e.size - 2);
      ctx.setLineDash([]);
      // Its label, right of the box and inside the lane: the longest wording that fits.
      const size = Math.round(13 * this.textScale);
      const x = e.x + e.size / 2 + 6;
      const room = geometry.right - x - 2;
      ctx.fillStyle = theme.text;
      ctx.textAlign = "left";
      ctx.textBaseline = "middle";
      ctx.font = `600 ${size}px ${theme.font}`;
      const fits = (text) => ctx.measureText(text).width <= room;
      let drawn = "";
      if (fits("+1 extra (Linux)")) ctx.fillText((drawn = "+1 extra (Linux)"), x, e.y);
      else if (fits("+1 extra") && fits("(Linux)") && e.rowHeight >= 2 * size + 2) {
        ctx.fillText("+1 extra", x, e.y - size / 2 - 1);
        ctx.fillText("(Linux)", x, e.y + size / 2 + 1);
        drawn = "+1 extra\n(Linux)";
      } else if (fits("+1 extra")) ctx.fillText((drawn = "+1 extra"), x, e.y);
      else if (fits("+1")) ctx.fillText((drawn = "+1"), x, e.y);
      this.textDrawn.extra = { text: drawn, px: size };
    }
  }
}

function roundRect(ctx, x, y, w, h, r) {
  ctx.beginPath();
  ctx.roundRect(x + 0.5, y + 0.5, w - 1, h - 1, r);
}

const SQRT1_2 = Math.SQRT1_2;

function addShape(ctx, shape, x, y, r) {
  if (r < 1.8) {
    const s = Math.max(r, 0.8);
    ctx.rect(x - s, y - s, s * 2, s * 2);
    return;
  }
  switch (shape) {
    case "square": {
      const s = r * 0.88;
      ctx.rect(x - s, y - s, s * 2, s * 2);
      return;
    }
    case "triangle": {
      const s = r * 1.2;
      ctx.moveTo(x, y - s);
      ctx.lineTo(x + s * 0.866, y + s * 0.5);
      ctx.lineTo(x - s * 0.866, y + s * 0.5);
      ctx.closePath();
      return;
    }
    case "diamond": {
      const s = r * 1.18;
      ctx.moveTo(x, y - s);
      ctx.lineTo(x + s, y);
      ctx.lineTo(x, y + s);
      ctx.lineTo(x - s, y);
      ctx.closePath();
      return;
    }
    case "cross": {
      // Two bars along the diagonals, wound the same way so their union fills.
      const l = r * 1.15;
      const w = Math.max(0.9, r * 0.34);
      const ux = l * SQRT1_2, uy = l * SQRT1_2; // along (1, 1)
      const nx = -w * SQRT1_2, ny = w * SQRT1_2; // across it
      ctx.moveTo(x - ux - nx, y - uy - ny);
      ctx.lineTo(x + ux - nx, y + uy - ny);
      ctx.lineTo(x + ux + nx, y + uy + ny);
      ctx.lineTo(x - ux + nx, y - uy + ny);
      ctx.closePath();
      const vx = -l * SQRT1_2, vy = l * SQRT1_2; // along (-1, 1)
      const mx = -w * SQRT1_2, my = -w * SQRT1_2; // across it
      ctx.moveTo(x - vx - mx, y - vy - my);
      ctx.lineTo(x + vx - mx, y + vy - my);
      ctx.lineTo(x + vx + mx, y + vy + my);
      ctx.lineTo(x - vx + mx, y - vy + my);
      ctx.closePath();
      return;
    }
    case "bar": {
      const w = r * 1.1;
      const h = Math.max(1, r * 0.5);
      ctx.rect(x - w, y - h, w * 2, h * 2);
      return;
    }
    case "ring": {
      // Outer circle one way, inner the other: the hole survives a nonzero fill.
      ctx.moveTo(x + r, y);
      ctx.arc(x, y, r, 0, Math.PI * 2);
      const inner = r * 0.5;
      ctx.moveTo(x + inner, y);
      ctx.arc(x, y, inner, 0, Math.PI * 2, true);
      return;
    }
    default:
      ctx.moveTo(x + r, y);
      ctx.arc(x, y, r, 0, Math.PI * 2);
  }
}

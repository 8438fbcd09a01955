/*
 * The HTML lane headers over the canvas: names, counts ([data-lane]) and captions, kept
 * crisp, readable by screen readers and testable.
 */
import { ACCEPTED, BACKLOG, CLOSED_CAPTION, FIRST_BIN, LANES, SLOTS } from "./lane-table.js";
import { BIN_HEAD } from "./lane-geometry.js";
import { STATE, engineWords, term } from "./vocabulary.js";
import { LaneLayout } from "./lane-layout.js";

export class LaneLabels extends LaneLayout {
  buildOverlay() {
    this.overlay.textContent = "";
    this.heads = [];
    this.labels = [];
    const make = (tag, className, parent, text) => {
      const el = document.createElement(tag);
      if (className) el.className = className;
      if (text != null) el.textContent = text;
      parent.appendChild(el);
      return el;
    };
    const head = (key, name, colour, caption) => {
      const box = make("div", "lane-head", this.overlay);
      box.dataset.for = key;
      box.style.setProperty("--lane-colour", `var(${colour})`);
      make("div", "lane-name", box, name);
      const row = make("div", "lane-count-row", box);
      const label = make("div", "lane-label", row, "0");
      label.dataset.lane = key;
      box.caption = make("div", "lane-caption", box, caption);
      this.heads.push(box);
      return label;
    };
    for (let lane = 0; lane < FIRST_BIN; lane++) {
      const def = LANES[lane];
      const label = head(def.key, def.label, def.colour, def.caption);
      label.dataset.state = def.state;
      this.labels.push(label);
    }
    const closed = term(STATE.CLOSED);
    this.closedLabel = head(closed.key, closed.label, closed.colour, CLOSED_CAPTION);
    this.closedLabel.dataset.state = closed.key;
    for (let lane = FIRST_BIN; lane < LANES.length; lane++) {
      const def = LANES[lane];
      const label = make("div", "lane-label lane-label--bin", this.overlay, "0");
      label.dataset.lane = def.key;
      label.dataset.outcome = def.outcome ?? "";
      label.dataset.label = `${def.glyph} ${def.label}`;
      label.style.setProperty("--lane-colour", `var(${def.colour})`);
      this.labels.push(label);
    }
    this.shownCounts = new Int32Array(LANES.length + 1).fill(-1);
    this.workerLabels = [];
  }

  /**
   * With workers > 1, a label over each worker's group of slots: which process, and how
   * many of its own slots are taken ([data-worker-slots]).
   */
  updateWorkerLabels() {
    const geometry = this.laneGeometry?.[SLOTS];
    const groups = geometry?.groups ?? [];
    while (this.workerLabels.length > groups.length) this.workerLabels.pop().remove();
    const counts = groups.length ? this.workerCounts() : [];
    groups.forEach((group, k) => {
      let label = this.workerLabels[k];
      if (!label) {
        label = document.createElement("div");
        label.className = "lane-worker";
        label.dataset.workerSlots = String(k);
        this.overlay.appendChild(label);
        this.workerLabels.push(label);
      }
      // A worker started in place of one that exited (gunicorn's max_requests) shares its
      // group: the label names every pid the group's dots came from, oldest first.
      const pids = this.workerPids.filter((_, i) => i % groups.length === k);
      label.dataset.pid = pids.length ? String(pids[0]) : "";
      label.dataset.pids = pids.join(" ");
      label.dataset.count = String(counts[k]);
      label.dataset.capacity = String(geometry.per);
      const text = `worker ${k + 1}${pids.length ? ` · pid ${pids.join(" → ")}` : ""}: ${counts[k]}/${geometry.per}`;
      if (label.textContent !== text) label.textContent = text;
      label.style.transform = `translate(${group.label.x}px, ${Math.max(group.label.y, group.gridTop - group.label.h - 2)}px)`;
      label.style.width = `${group.right - group.label.x}px`;
      label.style.height = `${group.label.h}px`;
    });
  }

  /**
   * Places the lane headers and makes the band above the lanes as tall as the tallest of
   * them (at least --lane-head): large type in presenter mode never runs into the boxes.
   */
  fitHeads() {
    this.positionHeads();
    const tallest = Math.max(0, ...this.heads.map((head) => head.offsetHeight));
    this.head = Math.max(this.cssHead, Math.ceil(tallest) + 12);
    const binLabel = this.labels[FIRST_BIN];
    this.binHead = Math.max(BIN_HEAD, Math.ceil(binLabel.offsetHeight) + 6);
  }

  /** The server whose words the lanes say (its name on the accepted lane), from its settings. */
  setServer(settings) {
    const words = engineWords(settings);
    if (words === this.engine) return;
    this.engine = words;
    if (this.columns?.length) this.positionHeads();
  }

  positionHeads() {
    this.heads.forEach((head, k) => {
      const column = this.columns[Math.min(k, FIRST_BIN)];
      head.style.transform = `translate(${column.x + 7}px, ${column.y + 5}px)`;
      head.style.width = `${column.w - 14}px`;
      // A name wider than its lane (a 1024 px screen, a large default font) shrinks to fit
      // rather than being cut ("conne…").
      // The text's own width, to the fraction of a pixel an ellipsis is drawn for.
      const name = head.firstChild;
      name.style.fontSize = "";
      const text = document.createRange();
      text.selectNodeContents(name);
      const wide = text.getBoundingClientRect().width;
      if (wide > name.clientWidth) {
        const size = parseFloat(getComputedStyle(name).fontSize);
        name.style.fontSize = `${Math.floor((size * name.clientWidth * 9.8) / wide) / 10}px`;
      }
    });
    this.heads[ACCEPTED].caption.textContent = this.engine?.accepted_caption ?? LANES[ACCEPTED].caption;
    this.heads[BACKLOG].caption.textContent =
      this.backlogCapacity == null ? "kernel accept queue" : `accept queue: ${this.backlogCapacity} places + 1`;
    this.heads[SLOTS].caption.textContent =
      this.slotCapacity === undefined
        ? LANES[SLOTS].caption
        : this.slotCapacity === null
          ? "in the app: no limit"
          : this.workers > 1
            ? `in the app: ${this.slotCapacity} places per worker × ${this.workers}`
            : `in the app: ${this.slotCapacity} places`;
  }

  positionLabels() {
    if (!this.columns.length) return;
    this.positionHeads();
    for (let lane = FIRST_BIN; lane < LANES.length; lane++) {
      const label = this.labels[lane];
      const geometry = this.laneGeometry[lane];
      label.hidden = !geometry;
      if (!geometry) continue;
      label.style.transform = `translate(${geometry.box.x + 8}px, ${geometry.box.y + 2}px)`;
      label.style.width = `${geometry.box.w - 14}px`;
    }
    const backlog = this.labels[BACKLOG];
    const slots = this.labels[SLOTS];
    backlog.dataset.capacity = this.backlogCapacity ?? "";
    backlog.dataset.extra = this.backlogCapacity ? "1" : "0";
    slots.dataset.capacity = this.slotCapacity ?? "";
    slots.dataset.workers = String(this.workers);
    this.updateWorkerLabels();
  }

  /** What the outcome bins add up (e.g. "2 bursts since the target started"); null: the default caption. */
  setScope(text) {
    const caption = text ? `connections by outcome · ${text}` : CLOSED_CAPTION;
    const box = this.heads[FIRST_BIN];
    if (box.caption.textContent === caption) return;
    box.caption.textContent = caption;
    // A caption that now takes another line needs a taller band.
    const head = this.head;
    this.fitHeads();
    if (this.head !== head) this.layout(true);
  }

  updateLabels() {
    for (let lane = 0; lane < LANES.length; lane++) {
      const n = this.laneCounts[lane];
      if (n !== this.shownCounts[lane]) {
        this.shownCounts[lane] = n;
        this.labels[lane].textContent = String(n);
        this.labels[lane].classList.toggle("is-empty", n === 0);
      }
    }
    if (this.workerLabels.length || this.laneGeometry?.[SLOTS]?.groups) this.updateWorkerLabels();
    let closed = 0;
    for (let lane = FIRST_BIN; lane < LANES.length; lane++) closed += this.laneCounts[lane];
    if (closed !== this.shownCounts[LANES.length]) {
      this.shownCounts[LANES.length] = closed;
      this.closedLabel.textContent = String(closed);
    }
  }
}

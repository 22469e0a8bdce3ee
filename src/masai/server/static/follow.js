// Following a run: the timeline stays scrolled to its end while entries are added and while the
// entries on screen grow (a tool's progress, its output, an approval), until the reader scrolls
// up. Then it stays where they put it and a "Jump to latest" button appears; the button, or
// scrolling back down to the end, follows the run again.

/** How close to the end (px) counts as at the end (fractional scroll positions). */
const SLACK = 4;

/**
 * Follow the end of `list` (a scrolling element); `button` re-pins it. Returns
 * {watch(el), jump(), reset(), pinned}: watch() each element added to the list (its growth keeps
 * the end in view), reset() for a new run.
 */
export function followEnd(list, button) {
  let pinned = true;
  let placedAt = 0; // where the last programmatic scroll put the list

  const atEnd = () => list.scrollHeight - list.scrollTop - list.clientHeight <= SLACK;
  const pin = () => {
    list.scrollTop = list.scrollHeight;
    placedAt = list.scrollTop;
  };
  const show = () => {
    // (only real changes: the list's own attributes are watched below)
    const hidden = pinned || atEnd();
    if (button.hidden !== hidden) button.hidden = hidden;
    if (list.dataset.pinned !== String(pinned)) list.dataset.pinned = String(pinned);
  };

  list.addEventListener(
    "scroll",
    () => {
      if (atEnd()) {
        pinned = true; // scrolled (back) to the end: follow again
        placedAt = list.scrollTop;
      } else if (list.scrollTop < placedAt - 1) {
        pinned = false; // the reader moved up: leave the view where they put it
      } else if (pinned) {
        pin(); // the list grew after our last scroll (its event came late): keep following
      }
      show();
    },
    { passive: true },
  );

  const follow = () => {
    // Moved up since we put it at the end, its scroll event not here yet: the reader's doing.
    if (pinned && !atEnd() && list.scrollTop < placedAt - 1) pinned = false;
    if (pinned) pin();
    show();
  };
  // Any change in the list (an entry added, text or an output appended, a <details> opened):
  // followed at once, as the task that made it ends, so the end is never out of view.
  new MutationObserver(follow).observe(list, {
    childList: true,
    subtree: true,
    characterData: true,
    attributes: true,
  });
  // And growth without a change in the DOM (the window resized, fonts): before it is painted.
  const resized = new ResizeObserver(follow);
  resized.observe(list);

  button.addEventListener("click", () => {
    pinned = true;
    pin();
    show();
  });

  return {
    watch(element) {
      resized.observe(element);
      follow();
    },
    jump() {
      pinned = true;
      pin();
      show();
    },
    reset() {
      resized.disconnect();
      resized.observe(list);
      pinned = true;
      placedAt = 0;
      show();
    },
    get pinned() {
      return pinned;
    },
  };
}

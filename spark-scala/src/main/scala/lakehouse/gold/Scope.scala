package lakehouse.gold

import java.time.LocalDate

/** Which days of the mart a run rewrites. */
sealed trait Scope

object Scope {
  /** Full refresh: the whole mart is overwritten. */
  case object AllDays extends Scope

  /** Silver has no rows and no bound was given: nothing to recompute. */
  case object NoDays extends Scope

  /** The UTC days from..to, both inclusive; an omitted bound is open. */
  final case class Days(from: Option[LocalDate], to: Option[LocalDate]) extends Scope {
    require(from.isDefined || to.isDefined, "a day range needs at least one bound")

    /** A SQL predicate on `column`, usable as replaceWhere and as a partition filter on silver. */
    def predicate(column: String): String =
      Seq(from.map(d => s"$column >= DATE'$d'"), to.map(d => s"$column <= DATE'$d'")).flatten.mkString(" AND ")

    override def toString: String = s"days ${from.getOrElse("(open)")}..${to.getOrElse("(open)")}"
  }

  /** Exactly these UTC days: those with purchases committed to silver since the mart's last build. */
  final case class DayList(days: Seq[LocalDate]) extends Scope {
    require(days.nonEmpty, "a day list needs at least one day")

    private val ordered = days.sortWith(_.isBefore(_))

    def predicate(column: String): String = ordered.map(d => s"DATE'$d'").mkString(s"$column IN (", ", ", ")")

    override def toString: String = s"${days.size} day(s) ${ordered.head}..${ordered.last} with new purchases"
  }

  /** The scope the arguments ask for; with neither bound nor full refresh, silver's first..last day. */
  def of(args: JobArgs, silverDays: => Option[(LocalDate, LocalDate)]): Scope =
    if (args.fullRefresh) AllDays
    else if (args.fromDate.isDefined || args.toDate.isDefined) Days(args.fromDate, args.toDate)
    else silverDays.fold[Scope](NoDays) { case (first, last) => Days(Some(first), Some(last)) }
}
